"""Who sees the managers' pages (the dashboard, the exports, the SLA page)."""

from django.conf import settings

# Held by the Manager role alone (backoffice/roles.py): checked first, from the permissions the admin
# has already loaded for the request, so the staff of other roles cost no query.
MANAGER_ROLE_PERMISSION = "returns.override_claim_window"


def is_manager(user) -> bool:
    """An active staff member in the managers' group (``settings.SLA_ESCALATION_GROUP``), or a superuser."""
    if not (user.is_active and user.is_staff):
        return False
    if user.is_superuser:
        return True
    if not user.has_perm(MANAGER_ROLE_PERMISSION):
        return False
    cached = getattr(user, "_is_manager", None)
    if cached is None:
        cached = user._is_manager = user.groups.filter(name=settings.SLA_ESCALATION_GROUP).exists()
    return cached
