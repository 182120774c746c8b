"""Django's ModelBackend, with a login's permissions read in one query.

A permission is held directly or through a role (group): Django reads the two
sets in two queries on every request that checks one (every API call, every
admin page). This reads both at once; the rules are Django's.
"""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission, User
from django.db.models import Q


class RoleBackend(ModelBackend):
    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            held = Permission.objects.all()
            if not user_obj.is_superuser:
                direct = User.user_permissions.through.objects.filter(user=user_obj)
                by_role = Group.permissions.through.objects.filter(group__user=user_obj)
                held = held.filter(
                    Q(pk__in=direct.values("permission_id"))
                    | Q(pk__in=by_role.values("permission_id"))
                )
            user_obj._perm_cache = {
                f"{app_label}.{codename}"
                for app_label, codename in held.values_list(
                    "content_type__app_label", "codename"
                )
            }
        return user_obj._perm_cache
