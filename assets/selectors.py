"""Reads of the asset registry that other code reuses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Case, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from numpy.typing import NDArray

from assets.models import (
    AssetKind,
    AssetStatus,
    AssetTelemetry,
    DERAsset,
    Owner,
    SetpointSource,
)


def user_owner_id(user: User | AnonymousUser) -> int | None:
    """The owner a login is scoped to, or None for staff who see every owner.

    A superuser, or a login without an owner record, is not scoped. A login that
    is linked to an owner sees that owner's rows only.
    """
    if not user.is_authenticated or user.is_superuser:
        return None
    return Owner.objects.filter(user=user).values_list("pk", flat=True).first()


def owners_visible_to(*, user: User | AnonymousUser) -> QuerySet[Owner]:
    owner_id = user_owner_id(user)
    owners = Owner.objects.all()
    return owners if owner_id is None else owners.filter(pk=owner_id)


def assets_visible_to(*, user: User | AnonymousUser) -> QuerySet[DERAsset]:
    owner_id = user_owner_id(user)
    assets = DERAsset.objects.all()
    return assets if owner_id is None else assets.filter(owner_id=owner_id)


def telemetry_visible_to(*, user: User | AnonymousUser) -> QuerySet[AssetTelemetry]:
    owner_id = user_owner_id(user)
    telemetry = AssetTelemetry.objects.all()
    return telemetry if owner_id is None else telemetry.filter(asset__owner_id=owner_id)


@dataclass(frozen=True)
class Fleet:
    """The batteries of one substation that the cycle must consider, as arrays.

    `eligible`: active, fresh telemetry, no manual hold: dispatched by the cycle.
    `manual`: active, fresh telemetry, an unexpired manual setpoint: left alone.
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


FLEET_COLUMNS = [
    "max_discharge_power",
    "energy_capacity_kwh",
    "state_of_charge",
    "min_soc_reserve",
    "ramp",
    "target_output_kw",
]


def battery_fleet(*, substation_id: int, fresh_since: datetime, now: datetime) -> Fleet:
    """Batteries of a substation that are dispatchable or hold a setpoint (steps 2-3).

    One query; eligibility is decided by the database. Assets that are neither
    dispatchable nor hold a setpoint are not read at all.
    """
    dispatchable = Q(
        kind=AssetKind.BATTERY,
        status=AssetStatus.ACTIVE,
        last_telemetry_at__gte=fresh_since,
    )
    manual = dispatchable & Q(
        setpoint_source=SetpointSource.MANUAL, setpoint_expires_at__gt=now
    )
    rows = list(
        DERAsset.objects.filter(substation_id=substation_id)
        .filter(
            dispatchable
            | Q(target_output_kw__gt=0)
            | Q(setpoint_expires_at__isnull=False)
        )
        .annotate(
            is_manual=Case(When(manual, then=Value(1)), default=Value(0)),
            is_eligible=Case(
                When(dispatchable & ~manual, then=Value(1)), default=Value(0)
            ),
            ramp=Coalesce("ramp_limit_kw_per_s", Value(-1.0)),
        )
        .values_list("pk", "is_eligible", "is_manual", *FLEET_COLUMNS)
    )
    table = np.array(rows, dtype=np.float64).reshape(len(rows), 3 + len(FLEET_COLUMNS))
    ramp = table[:, 7]
    return Fleet(
        pks=table[:, 0].astype(np.int64),
        eligible=table[:, 1] == 1,
        manual=table[:, 2] == 1,
        max_discharge_kw=table[:, 3],
        energy_capacity_kwh=table[:, 4],
        state_of_charge_pct=table[:, 5],
        reserve_pct=table[:, 6],
        ramp_kw_per_s=np.where(ramp < 0, np.nan, ramp),
        target_kw=table[:, 8],
    )
