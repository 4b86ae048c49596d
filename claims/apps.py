from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ClaimsConfig(AppConfig):
    # This module also holds the admin's config; "claims" in INSTALLED_APPS means this one.
    default = True
    name = "claims"
    verbose_name = "Claims"

    def ready(self):
        from axes.signals import user_locked_out
        from django.contrib.auth import signals as auth_signals

        from . import signals

        auth_signals.user_logged_in.connect(signals.record_login, dispatch_uid="audit-login")
        auth_signals.user_logged_out.connect(signals.record_logout, dispatch_uid="audit-logout")
        auth_signals.user_login_failed.connect(
            signals.record_login_failure, dispatch_uid="audit-login-failed"
        )
        user_locked_out.connect(signals.record_lockout, dispatch_uid="audit-lockout")
        self._give_tasks_request_ids()

    def _give_tasks_request_ids(self):
        from django_tasks.signals import task_finished, task_started

        from . import logs

        task_started.connect(logs.bind_task_request_id, dispatch_uid="task-request-id")
        task_finished.connect(logs.unbind_task_request_id, dispatch_uid="task-request-id")


class ClaimDeskAdminConfig(admin_apps.AdminConfig):
    """Django's admin with ClaimDesk's site, which asks roles.py who may use it."""

    default = False

    default_site = "claims.admin_site.ClaimDeskAdminSite"
