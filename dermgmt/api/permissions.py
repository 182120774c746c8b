"""Who may call what: one rule for sessions and tokens.

Every request needs the Django model permission of what it does (view for
reads, add for ingest, the setpoint permission for a manual setpoint), the same
permissions the admin checks, held through the user's roles. A token acts as
its user and, on top, only within its scopes. Rows are then filtered to what the
user may see (an owner's login: its own, none while it is linked to no owner:
assets.selectors.user_owner_id), so another owner's object is a 404.
"""

from __future__ import annotations

from rest_framework import permissions

from dermgmt.models import ApiScope, ApiToken


class ApiPermission(permissions.BasePermission):
    message = "Your role or token does not allow this."

    def has_permission(self, request, view) -> bool:
        if not request.user.is_authenticated:
            return False
        access = getattr(view, "access", None)  # the router's root: any login
        perm, scope = access(request) if access else (None, ApiScope.READ)
        if perm and not request.user.has_perm(perm):
            return False
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is not None and scope not in token.scopes:
            self.message = f"This token lacks the '{scope}' scope."
            return False
        return True


def read_or(scope: ApiScope, request) -> ApiScope:
    """READ for safe methods, else `scope`."""
    return ApiScope.READ if request.method in permissions.SAFE_METHODS else scope
