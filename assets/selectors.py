"""Reads of the asset registry that other code reuses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
from django.contrib.auth.models import AnonymousUser, User
from django.db import connection
from django.db.models import Model, QuerySet
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


def user_owner_id(user: User | AnonymousUser) -> int | None:
    """The owner a login is scoped to, or None for staff who see every owner.

    A superuser, or a login without an owner record, is not scoped. A login that
    is linked to an owner sees that owner's rows only.
    """
    if not user.is_authenticated or user.is_superuser:
        return None
    return Owner.objects.filter(user=user).values_list("pk", flat=True).first()


def owner_scoped(
    queryset: QuerySet[M], *, user: User | AnonymousUser, owner_field: str
) -> QuerySet[M]:
    """`queryset` as `user` may see it: every row for staff, and for an owner's
    login the rows whose `owner_field` is that owner."""
    owner_id = user_owner_id(user)
    if owner_id is None:
        return queryset
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
