# ClaimDesk: `make run` for the demo, `make serve` for production, `make test` for the tests.
VENV := .venv
PYTHON := $(VENV)/bin/python
PG_VERSION := $(shell ls /etc/postgresql 2>/dev/null | head -n 1)

.PHONY: run serve test lint postgres browser gettext translations messages

run: $(VENV)/.runtime postgres translations
	DEBUG=$${DEBUG:-true} $(PYTHON) manage.py demo

# The Procfile's processes on this machine: migrate, collect static files, then gunicorn, a
# sync worker and a task worker. Settings come from the environment or .env (SECRET_KEY,
# ALLOWED_HOSTS, DATABASE_URL, SELLER_CENTER_*). One stopping, or Ctrl-C, stops them all.
serve: SHELL := /bin/bash
serve: $(VENV)/.runtime translations
	$(PYTHON) manage.py migrate --noinput
	$(PYTHON) manage.py collectstatic --noinput --verbosity 0
	@trap 'kill $$(jobs -p) 2>/dev/null; wait' EXIT; \
	$(VENV)/bin/gunicorn & \
	$(PYTHON) manage.py sync_claims --every & \
	$(PYTHON) manage.py db_worker --no-reload & \
	wait -n

test: $(VENV)/.dev postgres browser gettext translations
	SECRET_KEY=$${SECRET_KEY:-test-only-secret-key} $(VENV)/bin/pytest

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

$(VENV)/bin/python:
	python3 -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

# PostgreSQL runs as a system service; start it when it is down.
postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $(PG_VERSION) main start
	@for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && exit 0; sleep 1; done; \
		echo "PostgreSQL did not start" >&2; exit 1

# The Turkish and English catalogues (locale/*/LC_MESSAGES/django.po) compiled to the .mo
# files Django reads. The .mo files are build output, never committed.
translations: $(VENV)/.runtime gettext
	$(VENV)/bin/django-admin compilemessages --ignore=.venv --ignore=staticfiles --verbosity 0

# After changing user-facing strings: new msgids into the catalogues, then translate each
# new one in locale/tr (tests/test_i18n.py fails until every one is).
messages: $(VENV)/.runtime gettext
	$(VENV)/bin/django-admin makemessages -l tr -l en --add-location=file --no-obsolete \
		--ignore=.venv --ignore=bench --ignore=tests --ignore=staticfiles

# makemessages and compilemessages run GNU gettext's tools.
gettext:
	@command -v msgfmt >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext; }

# The browser tests drive Debian's Chromium.
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core; }
