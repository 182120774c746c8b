"""Personas and small builders shared by the suite."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from assets.models import AssetKind, DERAsset, Owner
from dermgmt import roles
from grid.models import GridSensor, Substation

_numbers = itertools.count(1)


@pytest.fixture
def substation(db) -> Substation:
    return make_substation()


def make_substation(**fields) -> Substation:
    n = next(_numbers)
    values = {
        "code": f"sub-{n}",
        "name": f"Substation {n}",
        "nominal_voltage_v": 12_470.0,
        "nominal_frequency_hz": 60,
        "import_capacity_kw": 1000.0,
        "latitude": 40.0,
        "longitude": -105.0,
        "time_zone": "America/Denver",
    } | fields
    return Substation.objects.create(**values)


def make_sensor(substation: Substation, **fields) -> GridSensor:
    return GridSensor.objects.create(
        substation=substation, uid=f"sensor-{next(_numbers)}", **fields
    )


def make_owner(**fields) -> Owner:
    n = next(_numbers)
    values = {"name": f"Owner {n}", "email": f"owner{n}@example.org"} | fields
    return Owner.objects.create(**values)


def make_battery(substation: Substation, owner: Owner, **fields) -> DERAsset:
    values = {
        "uid": f"bess-{next(_numbers)}",
        "name": "Home battery",
        "kind": AssetKind.BATTERY,
        "max_discharge_power": 5.0,
        "max_charge_power_kw": 5.0,
        "energy_capacity_kwh": 13.5,
        "state_of_charge": 80.0,
        "min_soc_reserve": 20.0,
    } | fields
    return DERAsset.objects.create(substation=substation, owner=owner, **values)


def make_reading(substation: Substation, *, age_s: float = 1.0, **fields):
    from django.utils import timezone

    from grid.models import GridReading

    values = {
        "measured_at": timezone.now() - timedelta(seconds=age_s),
        "frequency_hz": float(substation.nominal_frequency_hz),
        "voltage_pu": 1.0,
        "load_kw": 0.0,
    } | fields
    return GridReading.objects.create(substation=substation, **values)


def make_fleet(substation: Substation, count: int, **fields) -> list[DERAsset]:
    """`count` active batteries that reported a moment ago."""
    from django.utils import timezone

    owner = make_owner()
    fields = {"last_telemetry_at": timezone.now()} | fields
    return [make_battery(substation, owner, **fields) for _ in range(count)]


def make_user(username: str, role: str | None = None, **fields):
    user = get_user_model().objects.create_user(
        username=username, password="pw", is_staff=True, **fields
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def operator(db):
    return make_user("operator", roles.OPERATORS)


@pytest.fixture
def technician(db):
    return make_user("technician", roles.MAINTENANCE)


@pytest.fixture
def owner_user(db):
    """A login linked to an owner with one battery."""
    user = make_user("owner", roles.ASSET_OWNERS)
    owner = make_owner(user=user)
    make_battery(make_substation(), owner, uid="owners-own-battery")
    return user


@pytest.fixture
def outsider(db):
    """Another owner, with an asset the first owner must not see."""
    user = make_user("outsider", roles.ASSET_OWNERS)
    owner = make_owner(user=user)
    make_battery(make_substation(), owner, uid="outsiders-battery")
    return user
