"""Writes audit events. Events are only ever added; nothing in ClaimDesk changes one."""

from dataclasses import dataclass

from django.utils import timezone

from . import roles
from .models import AuditEvent


@dataclass(frozen=True)
class Origin:
    """Where an action came from: the request, or a background job (all blank)."""

    request_id: str = ""
    client_ip: str | None = None
    user_agent: str = ""

    @classmethod
    def of(cls, request):
        if request is None:
            return cls()
        return cls(
            request_id=getattr(request, "request_id", ""),
            client_ip=request.META.get("REMOTE_ADDR") or None,
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:512],
        )


def record(action, *, actor=None, origin=None, **fields):
    origin = origin or Origin()
    role = roles.role_of(actor) if actor else None
    return AuditEvent.objects.create(
        at=timezone.now(),
        action=action,
        actor=actor,
        actor_role=role.value if role else "",
        request_id=origin.request_id,
        client_ip=origin.client_ip,
        user_agent=origin.user_agent,
        **fields,
    )
