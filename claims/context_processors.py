from . import roles


def claimdesk(request):
    user = getattr(request, "user", None)
    return {
        "role": roles.role_of(user) if user else None,
        "may": {action.value: roles.can(user, action) for action in roles.Action} if user else {},
    }
