"""Reads of the asset registry that other code reuses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
from django.contrib.auth.models import AnonymousUser, Group, User
from django.db import connection
from django.db.models import Exists, Model, OuterRef, QuerySet, Subquery
from numpy.typing import NDArray

from assets.models import (
    AssetKind,
    AssetStatus,
    AssetTelemetry,
    DERAsset,
    Owner,
    SetpointSource,
)

M = TypeVar("M", bound=Model)


# The role whose logins are owner-scoped. Defined here, with the rule, because
# assets sits below the project package; dermgmt.roles names its group with it.
OWNER_ROLE = "Asset Owners"

# What `user_owner_id` answers for a scoped login linked to no owner: a key that
# no row holds (keys start at 1), so any filter on it finds nothing.
NO_OWNER = 0


def user_owner_id(user: User | AnonymousUser) -> int | None:
    """The owner whose rows `user` may see, or None when it may see every owner's.

    The one rule of owner scoping, and it fails closed. A login is scoped when it
    is in the owner role or linked to an owner record, and is not a superuser: it
    sees its linked owner's rows, and none (NO_OWNER) while it is linked to no
    owner, as happens when the back office clears an owner's User field. A login
    in the owner role and a staff role is scoped too. Staff roles without a link
    are not scoped, nor are superusers; an anonymous user sees nothing. Read in
    one query on each call, so an unlinking holds from the next request on.
    """
    if not user.is_authenticated:
        return NO_OWNER
    if user.is_superuser:
        return None
    in_role = Exists(
        Group.user_set.through.objects.filter(
            user_id=OuterRef("pk"), group__name=OWNER_ROLE
        )
    )
    linked = Owner.objects.filter(user_id=OuterRef("pk")).values("pk")[:1]
    scope = (
        User.objects.filter(pk=user.pk)
        .annotate(in_role=in_role, owner_pk=Subquery(linked))
        .values_list("in_role", "owner_pk")
        .first()
    )
    if scope is None:  # a login deleted under its session
        return NO_OWNER
    in_owner_role, owner_id = scope
    if owner_id is not None:
        return owner_id
    return NO_OWNER if in_owner_role else None


def user_is_owner_scoped(user: User | AnonymousUser) -> bool:
    """Whether `user` sees only one owner's rows (or none): see user_owner_id."""
    return user_owner_id(user) is not None


def owner_scoped(
    queryset: QuerySet[M], *, user: User | AnonymousUser, owner_field: str
) -> QuerySet[M]:
    """`queryset` as `user` may see it (user_owner_id): every row for staff, for an
    owner's login the rows whose `owner_field` is its owner, none for a scoped
    login linked to no owner."""
    owner_id = user_owner_id(user)
    if owner_id is None:
        return queryset
    if owner_id == NO_OWNER:
        return queryset.none()
    return queryset.filter(**{owner_field: owner_id})


def owners_visible_to(*, user: User | AnonymousUser) -> QuerySet[Owner]:
    return owner_scoped(Owner.objects.all(), user=user, owner_field="pk")


def assets_visible_to(*, user: User | AnonymousUser) -> QuerySet[DERAsset]:
    return owner_scoped(DERAsset.objects.all(), user=user, owner_field="owner_id")


def telemetry_visible_to(*, user: User | AnonymousUser) -> QuerySet[AssetTelemetry]:
    telemetry = AssetTelemetry.objects.all()
    return owner_scoped(telemetry, user=user, owner_field="asset__owner_id")


@dataclass(frozen=True)
class Fleet:
    """The batteries of one substation that the cycle must consider, as arrays.

    `eligible`: active, fresh telemetry, no manual hold: dispatched by the cycle.
    `manual`: active, fresh telemetry, an unexpired manual setpoint: kept (lowered
    only if the battery can no longer give it).
    Every other row has a setpoint (target or expiry) that must go back to 0.
    Ramp is NaN where the asset has no ramp limit.
    """

    pks: NDArray[np.int64]
    eligible: NDArray[np.bool_]
    manual: NDArray[np.bool_]
    max_discharge_kw: NDArray[np.float64]
    energy_capacity_kwh: NDArray[np.float64]
    state_of_charge_pct: NDArray[np.float64]
    reserve_pct: NDArray[np.float64]
    ramp_kw_per_s: NDArray[np.float64]
    target_kw: NDArray[np.float64]


FLEET_SQL = """
SELECT id,
       (kind = %(battery)s AND status = %(active)s
        AND last_telemetry_at >= %(fresh_since)s),
       (setpoint_source = %(manual)s AND setpoint_expires_at > %(now)s),
       max_discharge_power, energy_capacity_kwh, state_of_charge, min_soc_reserve,
       COALESCE(ramp_limit_kw_per_s, -1), target_output_kw
  FROM {table}
 WHERE substation_id = %(substation_id)s
   AND ((kind = %(battery)s AND status = %(active)s
         AND last_telemetry_at >= %(fresh_since)s)
        OR target_output_kw > 0 OR setpoint_expires_at IS NOT NULL)
"""


def battery_fleet(*, substation_id: int, fresh_since: datetime, now: datetime) -> Fleet:
    """Batteries of a substation that are dispatchable or hold a setpoint (steps 2-3).

    One query, written out because it runs every few seconds per substation and
    the ORM's compilation of it cost more than the query itself (2-3 ms). Assets
    that are neither dispatchable nor hold a setpoint are not read at all; the
    (substation, kind, status) index serves it.
    """
    adapt = connection.ops.adapt_datetimefield_value
    params: dict[str, Any] = {
        "substation_id": substation_id,
        "battery": AssetKind.BATTERY,
        "active": AssetStatus.ACTIVE,
        "manual": SetpointSource.MANUAL,
        "fresh_since": adapt(fresh_since),
        "now": adapt(now),
    }
    with connection.cursor() as cursor:
        cursor.execute(FLEET_SQL.format(table=DERAsset._meta.db_table), params)
        rows = cursor.fetchall()
    table = np.array(rows, dtype=np.float64).reshape(len(rows), 9)
    dispatchable, manual, ramp = table[:, 1] == 1, table[:, 2] == 1, table[:, 7]
    return Fleet(
        pks=table[:, 0].astype(np.int64),
        eligible=dispatchable & ~manual,
        manual=dispatchable & manual,
        max_discharge_kw=table[:, 3],
        energy_capacity_kwh=table[:, 4],
        state_of_charge_pct=table[:, 5],
        reserve_pct=table[:, 6],
        ramp_kw_per_s=np.where(ramp < 0, np.nan, ramp),
        target_kw=table[:, 8],
    )
