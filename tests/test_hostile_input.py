"""Hostile input: every form and query parameter is checked on the server, and whatever comes
in is answered with a message, never a server error, a query built from it, or a change.

Unknown query parameters of the queue are named in its notice and ignored, not refused: links
get bookmarked and shared, and one made by an older ClaimDesk, or carrying a tracker's
parameters, should still open its view, with the notice saying what was not applied.
"""

import ast
import uuid
from pathlib import Path
from urllib.parse import urlencode

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core import mail
from django.urls import reverse

from claims.forms import QueueFilterForm
from claims.models import BulkRun, CannedReason, Claim, Decision, User
from claims.sync import sync_everything

pytestmark = pytest.mark.django_db

ROOT = Path(settings.BASE_DIR)
HTMX = {"HTTP_HX_REQUEST": "true"}
PASSWORD = "a-long-test-password"


@pytest.fixture
def synced(sandbox):
    sync_everything()
    return sandbox


@pytest.fixture
def viewer(client, member, synced):
    client.force_login(member("viewer"))
    return client


@pytest.fixture
def lead(client, member, synced):
    client.force_login(member("lead"))
    return client


@pytest.fixture
def waiting_claim(synced):
    return Claim.objects.filter(status="waiting").order_by("created_at", "id").first()


def queue(client, query, **headers):
    return client.get(reverse("claims:queue") + "?" + urlencode(query, doseq=True), **headers)


def filter_errors(response):
    return {name: list(errors) for name, errors in response.context["filter_form"].errors.items()}


def posts_upstream(sandbox):
    return [r for r in sandbox.requests if r.method == "POST"]


# The queue's filters ------------------------------------------------------------------------


def test_unknown_query_parameters_are_named_in_a_notice_and_the_rest_still_applies(viewer):
    response = queue(viewer, {"type": "refund", "utm_source": "mail", "colour": "red"})

    assert response.status_code == 200
    assert filter_errors(response) == {
        "__all__": ["Unknown filters colour, utm_source were ignored."]
    }
    assert "<li>Unknown filters colour, utm_source were ignored.</li>" in response.content.decode()
    rows = response.context["page"].object_list
    assert rows and {claim.type for claim in rows} == {"refund"}


def test_many_unknown_parameters_are_named_shortly_and_as_text(viewer):
    query = {f"<b>p{n}</b>" + "x" * 60: "1" for n in range(8)}

    response = queue(viewer, query)

    (message,) = filter_errors(response)["__all__"]
    names = sorted(query)[:5]
    assert message == f"Unknown filters {', '.join(n[:40] for n in names)}, … were ignored."
    page = response.content.decode()
    assert "<b>p0" not in page and "&lt;b&gt;p0&lt;/b&gt;" in page


def not_a_choice(value):
    return f"Select a valid choice. {value} is not one of the available choices."


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("sort", "sideways", not_a_choice("sideways")),
        ("per_page", "1000", not_a_choice("1000")),
        ("type", "exchange", not_a_choice("exchange")),
        ("reason", "damaged", "Enter a valid UUID."),
        ("status", "waiting'; DROP TABLE claims_claim; --", "Unknown status."),
        ("waiting_days", "-1", "Ensure this value is greater than or equal to 0."),
        ("waiting_days", "10**9", "Enter a whole number."),
        ("page", "0", "Ensure this value is greater than or equal to 1."),
        ("page", "1e9", "Enter a whole number."),
    ],
)
def test_a_value_outside_what_a_filter_takes_is_named_and_ignored(viewer, name, value, error):
    response = queue(viewer, {name: value})

    assert response.status_code == 200
    assert filter_errors(response) == {name: [error]}
    assert response.context["filters"][name] == QueueFilterForm.defaults()[name]


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("2025-02-30", "Enter a valid date."),
        ("yesterday", "Enter a valid date."),
        ("2025-13-01", "Enter a valid date."),
        ("31/12/2025", "Enter a valid date."),
        ("9999-12-31", "Ensure this value is less than or equal to 2099-12-31."),
        ("0001-01-01", "Ensure this value is greater than or equal to 2000-01-01."),
    ],
)
@pytest.mark.parametrize("field", ["created_from", "created_to", "updated_from", "updated_to"])
def test_a_malformed_or_far_off_date_is_named_not_a_server_error(viewer, field, value, error):
    response = queue(viewer, {field: value, "type": "cancel"})

    assert response.status_code == 200
    assert filter_errors(response) == {field: [error]}
    assert {claim.type for claim in response.context["page"].object_list} == {"cancel"}


@pytest.mark.parametrize(
    ("url", "query", "field"),
    [
        ("audit:events", {"date_to": "9999-12-31"}, "date_to"),
        ("audit:events", {"date_from": "0001-01-01"}, "date_from"),
        ("reports:index", {"end": "0001-01-01"}, "end"),
        ("reports:index", {"start": "9999-12-31", "end": "9999-12-31"}, "start"),
    ],
)
def test_far_off_dates_in_the_audit_and_the_reports_are_named(lead, url, query, field):
    response = lead.get(reverse(url), query)

    assert response.status_code == 200
    form = response.context["filter_form" if url.startswith("audit") else "form"]
    assert field in form.errors


@pytest.mark.parametrize(
    ("url", "query"),
    [
        (reverse("audit:export"), {"date_to": "9999-12-31"}),
        (reverse("reports:export", args=["opened"]), {"end": "0001-01-05"}),
    ],
)
def test_far_off_dates_in_a_csv_export_give_the_default_period_not_a_server_error(
    lead, url, query
):
    response = lead.get(url, query)

    unfiltered = lead.get(url)

    assert response.status_code == 200
    # The date that was not understood is left out, as if it had not been given.
    assert b"".join(response.streaming_content) == b"".join(unfiltered.streaming_content)


def test_a_bulk_decision_over_a_filter_it_cannot_read_applies_the_rest(lead):
    query = urlencode({"created_to": "9999-12-31", "type": "cancel"})
    form = {"action": "approve", "scope": "matching", "filter_query": query}

    response = lead.post(reverse("claims:bulk_start"), form)

    run = BulkRun.objects.get()
    assert response.status_code == 302
    waiting_cancellations = Claim.objects.filter(status="waiting", type="cancel").count()
    assert run.total == waiting_cancellations


# Identifiers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/claims/123/"),
        ("get", "/claims/not-a-uuid/"),
        ("get", "/claims/a8649660-9518-4b5b-81dc-56af9f756acf-x/"),
        ("get", "/claims/a8649660951841b581dc56af9f756acf'/"),
        ("get", "/claims/%2e%2e/admin/"),
        ("post", "/claims/1 OR 1=1/approve/"),
        ("post", "/claims/not-a-uuid/reject/"),
        ("get", "/bulk/12/"),
        ("get", f"/claims/{uuid.uuid4()}/"),
        ("post", f"/claims/{uuid.uuid4()}/approve/"),
        ("get", f"/bulk/{uuid.uuid4()}/"),
        ("post", "/team/99999999999999999999999/role/"),
        ("post", "/team/-1/deactivate/"),
    ],
)
def test_an_id_that_is_not_a_claim_or_not_a_uuid_is_a_404(client, member, sandbox, method, path):
    client.force_login(member("admin"))

    response = getattr(client, method)(path, {"reason": "x", "role": "agent"})

    assert response.status_code == 404
    assert posts_upstream(sandbox) == []


# Over-long and over-many values -------------------------------------------------------------


def test_an_over_long_search_is_refused_with_its_length(viewer):
    response = queue(viewer, {"q": "r" * 201, "type": "refund"})

    assert filter_errors(response) == {
        "q": ["Ensure this value has at most 200 characters (it has 201)."]
    }
    assert response.context["filters"]["q"] == ""
    assert {claim.type for claim in response.context["page"].object_list} == {"refund"}


def test_more_statuses_than_any_view_needs_are_refused(viewer):
    response = queue(viewer, {"status": [f"status{n}" for n in range(21)]})

    assert filter_errors(response) == {"status": ["Choose at most 20 statuses."]}
    assert response.context["filters"]["status"] == ["waiting"]


@pytest.mark.parametrize("admins", [[], [("", "ops@example.com")]])
def test_more_parameters_than_django_reads_get_a_plain_refusal(viewer, settings, admins):
    settings.ADMINS = admins
    query = [("status", "waiting")] * (settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)

    response = queue(viewer, query)

    assert response.status_code == 400
    page = response.content.decode()
    assert "<h1>ClaimDesk could not read this request</h1>" in page
    assert "Nothing was changed." in page
    # Reported to the admins, as Django's security log asks, without the unreadable request.
    assert [m.subject for m in mail.outbox] == [
        "[Django] ERROR (EXTERNAL IP): The number of GET/POST parameters exceeded "
        "settings.DATA_UPLOAD_MAX_NUMBER_FIELDS."
    ][: len(admins)]


NOT_HTTPS = "Image URL 1 must be a full https:// address."
TOO_LONG = "Ensure this value has at most {} characters (it has {})."


@pytest.mark.parametrize(
    ("reason", "images", "field", "message"),
    [
        ("n" * 501, [], "reason", TOO_LONG.format(500, 501)),
        ("a\x00b", [], "reason", "Null characters are not allowed."),
        ("No.", ["https://127.0.0.1/e.png"] * 11, "images", "Add at most 10 image URLs."),
        (
            "No.",
            ["https://127.0.0.1/" + "e" * 2000],
            "images",
            "Image URL 1 is longer than 2000 characters.",
        ),
        ("No.", ["javascript:alert(1)"], "images", NOT_HTTPS),
        ("No.", ["data:image/svg+xml,<svg onload=alert(1)>"], "images", NOT_HTTPS),
        ("No.", ["http://127.0.0.1/e.png"], "images", NOT_HTTPS),
        ("No.", ["//127.0.0.1/e.png"], "images", NOT_HTTPS),
        ("No.", ["https://127.0.0.1/a\x00b.png"], "images", NOT_HTTPS),
        ("No.", ["https://127.0.0.1/\u202egnp.exe"], "images", NOT_HTTPS),
        ("No.", ["https://127.0.0.1:99999/e.png"], "images", NOT_HTTPS),
        ("No.", ["https://127.0.0.1/a b.png"], "images", NOT_HTTPS),
    ],
)
def test_a_reject_the_form_cannot_take_is_refused_and_nothing_is_sent(
    client, member, waiting_claim, synced, reason, images, field, message
):
    client.force_login(member("agent"))
    form = {"reason": reason, "images": images}

    response = client.post(reverse("claims:reject", args=[waiting_claim.pk]), form)

    assert response.status_code == 422
    assert message in response.context["reject_form"].errors[field]
    assert posts_upstream(synced) == []
    assert not Decision.objects.exists()


def test_more_form_fields_than_django_reads_refuse_the_post_before_it_is_handled(
    client, member, waiting_claim, synced, settings
):
    client.force_login(member("agent"))
    images = ["https://127.0.0.1/e.png"] * settings.DATA_UPLOAD_MAX_NUMBER_FIELDS

    response = client.post(
        reverse("claims:reject", args=[waiting_claim.pk]), {"reason": "No.", "images": images}
    )

    assert response.status_code == 400
    assert posts_upstream(synced) == []
    assert not Decision.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"email": "a" * 140 + "@example.com"}, "email", TOO_LONG.format(150, 152)),
        ({"first_name": "F" * 151}, "first_name", TOO_LONG.format(150, 151)),
        ({"role": "superuser"}, "role", not_a_choice("superuser")),
        ({"email": "new@example.com\x00"}, "email", "Null characters are not allowed."),
    ],
)
def test_a_new_member_the_form_cannot_take_is_refused_and_nobody_is_added(
    lead, changes, field, message
):
    form = {"email": "new@example.com", "role": "agent", **changes}
    members = User.objects.count()

    response = lead.post(reverse("team:add"), form)

    assert response.status_code == 422
    assert message in response.context["form"].errors[field]
    assert User.objects.count() == members


def test_an_over_long_saved_reason_is_refused(lead):
    response = lead.post(reverse("claims:canned_reasons"), {"text": "r" * 501})

    assert response.status_code == 422
    assert response.context["form"].errors == {
        "text": ["Ensure this value has at most 500 characters (it has 501)."]
    }
    assert not CannedReason.objects.exists()


def test_an_over_long_audit_claim_is_named(lead):
    response = lead.get(reverse("audit:events"), {"claim": "c" * 129})

    assert response.status_code == 200
    assert response.context["filter_form"].errors == {
        "claim": ["Ensure this value has at most 128 characters (it has 129)."]
    }


@pytest.mark.parametrize("login_url", ["/login/", "/admin/login/"])
def test_a_sign_in_with_a_username_longer_than_any_members_is_refused_as_wrong(
    client, member, login_url
):
    member("admin", username="ops@example.com")

    response = client.post(login_url, {"username": "o" * 1000, "password": PASSWORD})

    form = response.context["form"]
    assert response.status_code == 200
    assert form.non_field_errors() == [
        form.error_messages["invalid_login"] % {"username": "username"}
    ]
    assert not AccessAttempt.objects.exists()
    assert "_auth_user_id" not in client.session


# No query from raw parameters ---------------------------------------------------------------

# The one formatted SQL statement: sync.py's upsert, which lists the constant _ROW_COLUMNS.
SOURCE_DIRS = ("claims", "claimdesk")
RAW_SQL_CALLS = {"raw", "extra", "RawSQL"}


def _module_constants(tree):
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                constants[target.id] = node.value
    return constants


def _is_literal(node):
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True


def _bound_inside(node):
    """Names a comprehension inside `node` binds: its loop variables."""
    return {
        name.id
        for comprehension in ast.walk(node)
        if isinstance(comprehension, ast.comprehension)
        for name in ast.walk(comprehension.target)
        if isinstance(name, ast.Name)
    }


def _is_psycopg_composition(node):
    """psycopg's sql.SQL("... {} ...").format(sql.Identifier(...)): quoted by the driver."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return False
    template = node.func.value
    return (
        node.func.attr == "format"
        and isinstance(template, ast.Call)
        and ast.unparse(template.func) == "sql.SQL"
        and all(isinstance(a, ast.Constant) for a in template.args)
        and all(
            isinstance(a, ast.Call) and ast.unparse(a.func) in ("sql.Identifier", "sql.Literal")
            for a in node.args
        )
    )


def _is_constant_sql(node, constants):
    """A string literal, or a module constant built only from literals and literal constants."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    if _is_psycopg_composition(node):
        return True
    if isinstance(node, ast.Name) and node.id in constants:
        node = constants[node.id]
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return True
        if isinstance(node, ast.JoinedStr):
            used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            outside = used - _bound_inside(node) - {"str"}
            return all(name in constants and _is_literal(constants[name]) for name in outside)
    return False


def raw_sql_problems(source, filename):
    tree = ast.parse(source, filename)
    constants = _module_constants(tree)
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        name = (
            function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
        )
        if name in RAW_SQL_CALLS:
            problems.append(f"{filename}:{node.lineno} calls {name}()")
        elif name in ("execute", "executemany") and node.args:
            if not _is_constant_sql(node.args[0], constants):
                problems.append(f"{filename}:{node.lineno} executes SQL that is not a constant")
    return problems


def test_no_query_is_built_from_raw_request_parameters():
    problems = []
    for directory in SOURCE_DIRS:
        for path in sorted((ROOT / directory).rglob("*.py")):
            problems += raw_sql_problems(path.read_text(), str(path.relative_to(ROOT)))

    assert problems == []


def test_the_raw_sql_check_finds_a_statement_formatted_from_a_parameter():
    source = """
COLUMNS = ("id", "status")
LISTED = f"SELECT {', '.join(COLUMNS)} FROM claims_claim"


def view(request, cursor, Claim):
    cursor.execute(LISTED)
    cursor.execute("SELECT 1 WHERE status = %s", [request.GET["status"]])
    cursor.execute(f"SELECT * FROM claims_claim WHERE status = '{request.GET['status']}'")
    cursor.execute("SELECT * FROM claims_claim ORDER BY %s" % request.GET["sort"])
    Claim.objects.raw("SELECT * FROM claims_claim")
    Claim.objects.extra(where=["1=1"])
    cursor.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(request.GET["db"])))
    cursor.execute(sql.SQL("SELECT " + request.GET["column"]).format())
"""

    assert raw_sql_problems(source, "view.py") == [
        "view.py:9 executes SQL that is not a constant",
        "view.py:10 executes SQL that is not a constant",
        "view.py:11 calls raw()",
        "view.py:12 calls extra()",
        "view.py:14 executes SQL that is not a constant",
    ]


def test_a_filter_shaped_like_sql_is_only_ever_a_value(viewer):
    claims_before = Claim.objects.count()

    response = queue(viewer, {"q": "'; DELETE FROM claims_claim; --", "status": "all"})

    assert response.status_code == 200
    assert response.context["page"].paginator.count == 0
    assert Claim.objects.count() == claims_before
