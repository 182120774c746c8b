"""Roles as Django groups, with their permissions defined here in code.

Synced after every `migrate` (post_migrate), so a fresh database and an old one
end up with the same groups. Later issues widen the permission lists as their
models arrive.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

from assets.selectors import OWNER_ROLE

OPERATORS = "Operators"
MAINTENANCE = "Maintenance Team"
# A login in this role sees only its linked owner's rows, and none while it is
# linked to no owner, whatever other role it holds (assets.selectors.user_owner_id).
ASSET_OWNERS = OWNER_ROLE
BACK_OFFICE = "Back Office"

OUR_APPS = [
    "grid",
    "assets",
    "forecasting",
    "incidents",
    "dispatch",
    "reports",
    "dermgmt",
]

BEAT_MODELS = [
    "periodictask",
    "intervalschedule",
    "crontabschedule",
    "solarschedule",
    "clockedschedule",
]

# group -> list of "app_label.codename"; "app_label.*" means every permission of
# the app, and "-app_label.codename" takes one back.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    OPERATORS: [f"{app}.*" for app in OUR_APPS]
    # Beat's schedule is code's (dermgmt/schedule.py): operators see it and may
    # switch non-safety entries; the admin keeps safety entries read-only.
    + [f"django_celery_beat.view_{model}" for model in BEAT_MODELS]
    + ["django_celery_beat.change_periodictask"]
    # A token acts as any user it names: only superusers make or revoke them.
    + ["-dermgmt.add_apitoken", "-dermgmt.change_apitoken", "-dermgmt.delete_apitoken"],
    MAINTENANCE: [
        "assets.view_derasset",
        "assets.view_assettelemetry",
        "assets.view_hardwareerrorcode",
        "grid.view_substation",
        "incidents.view_gridincident",
        "incidents.view_activealert",
        "incidents.view_techniciantask",
        "incidents.change_techniciantask",  # its notes; the rest through actions
        "incidents.work_techniciantask",
    ],
    ASSET_OWNERS: [
        "assets.view_owner",
        # their own record's name, phone and SMS consent: OwnerAdmin makes the
        # rest read-only for them
        "assets.change_owner",
        "assets.view_derasset",
        "assets.view_assettelemetry",
        "incidents.view_techniciantask",  # of their own assets
        "incidents.view_notification",  # sent to them
        "dispatch.view_setpointcommand",  # of their own assets
    ],
    BACK_OFFICE: [
        "assets.import_derasset",
        "assets.add_owner",
        "assets.change_owner",
        "assets.view_owner",
        "assets.add_derasset",
        "assets.change_derasset",
        "assets.view_derasset",
        "assets.view_assettelemetry",
        "assets.add_hardwareerrorcode",
        "assets.change_hardwareerrorcode",
        "assets.view_hardwareerrorcode",
        "grid.add_substation",
        "grid.change_substation",
        "grid.view_substation",
        "grid.add_gridsensor",
        "grid.change_gridsensor",
        "grid.view_gridsensor",
    ],
}


def permissions_for(names: list[str]) -> list[Permission]:
    query = Q(pk__in=[])
    excluded = Q(pk__in=[])
    for name in names:
        if name.startswith("-"):
            app_label, codename = name[1:].split(".")
            excluded |= Q(content_type__app_label=app_label, codename=codename)
            continue
        app_label, codename = name.split(".")
        if codename == "*":
            query |= Q(content_type__app_label=app_label)
        else:
            query |= Q(content_type__app_label=app_label, codename=codename)
    return list(Permission.objects.filter(query).exclude(excluded))


def roles_sync() -> None:
    """Create or update every role group so it holds exactly its permissions."""
    for name, permission_names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(permissions_for(permission_names))


def sync_after_migrate(sender, **kwargs) -> None:
    if sender.name == "dermgmt":
        roles_sync()
