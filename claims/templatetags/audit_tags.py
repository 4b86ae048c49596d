from django import template

from ..roles import Role

register = template.Library()


@register.filter
def role_label(value):
    """A role's name in the reader's language; a role no longer known, as it was stored."""
    try:
        return str(Role(value).label)
    except ValueError:
        return value
