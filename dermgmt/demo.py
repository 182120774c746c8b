"""The demo grid: three substations, a few hundred assets, owners and logins.

Idempotent: every row is keyed by its natural key and written with an upsert, and
the random choices are seeded, so running it twice leaves the same registry.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from assets.models import AssetKind, DERAsset, HardwareErrorCode, Owner, Protocol
from dermgmt import roles
from dermgmt.history import history_write
from grid.models import GridReading, GridSensor, Substation

SUBSTATIONS = [
    # code, name, lat, lon, import capacity kW
    ("boulder-north", "Boulder North 115/12.47 kV", 40.06, -105.25, 3800.0),
    ("longmont-east", "Longmont East 115/12.47 kV", 40.17, -105.07, 3000.0),
    ("lyons-valley", "Lyons Valley 44/12.47 kV", 40.22, -105.27, 2200.0),
]
ASSETS_PER_SUBSTATION = {
    AssetKind.BATTERY: 70,
    AssetKind.PV: 30,
    AssetKind.WIND: 4,
    AssetKind.EV: 6,
}
OWNERS = 150

ERROR_CODES = [
    ("BMS-OVERTEMP", "Battery cell over-temperature; pack isolated", "critical"),
    ("INV-GROUND-FAULT", "Inverter ground fault detected", "critical"),
    ("ARC-FAULT", "DC arc fault; inverter shut down", "critical"),
    ("BMS-CELL-IMBALANCE", "Cell voltage imbalance above limit", "major"),
    ("INV-FAN", "Inverter cooling fan degraded", "warning"),
    ("COMM-LATENCY", "Controller round trip above 2 s", "info"),
]

FIRST_NAMES = [
    "Ana",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jon",
    "Kira",
    "Luis",
    "Maya",
    "Noah",
    "Olga",
    "Pia",
    "Quinn",
    "Ravi",
    "Sara",
    "Tom",
]
LAST_NAMES = [
    "Alvarez",
    "Brooks",
    "Chen",
    "Diaz",
    "Evans",
    "Fischer",
    "Garcia",
    "Hughes",
    "Ivanova",
    "Jensen",
    "Kim",
    "Lopez",
    "Moreau",
    "Novak",
    "Okafor",
    "Patel",
]


@dataclass(frozen=True)
class Login:
    username: str
    password: str
    role: str


LOGINS = [
    Login("admin", "demo-admin-1", "superuser"),
    Login("operator", "demo-operator-1", roles.OPERATORS),
    Login("technician", "demo-technician-1", roles.MAINTENANCE),
    Login("backoffice", "demo-backoffice-1", roles.BACK_OFFICE),
    Login("owner", "demo-owner-1", roles.ASSET_OWNERS),
]


def upsert(model, rows: list, unique: list[str]) -> None:
    fields = [
        f.name
        for f in model._meta.concrete_fields
        if not f.primary_key
        and f.name not in unique
        and not getattr(f, "auto_now_add", False)
    ]
    model.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=unique, update_fields=fields
    )


def build_substations() -> dict[str, Substation]:
    upsert(
        Substation,
        [
            Substation(
                code=code,
                name=name,
                nominal_voltage_v=12_470.0,
                nominal_frequency_hz=60,
                import_capacity_kw=capacity,
                latitude=lat,
                longitude=lon,
                altitude_m=1600.0,
                time_zone="America/Denver",
            )
            for code, name, lat, lon, capacity in SUBSTATIONS
        ],
        ["code"],
    )
    substations = Substation.objects.in_bulk(
        [s[0] for s in SUBSTATIONS], field_name="code"
    )
    upsert(
        GridSensor,
        [
            GridSensor(substation=s, uid=f"{code}-pmu-1", name=f"{s.name} bus PMU")
            for code, s in substations.items()
        ],
        ["uid"],
    )
    return substations


def build_owners(rng: random.Random) -> list[Owner]:
    rows = []
    for i in range(OWNERS):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        rows.append(
            Owner(
                name=f"{first} {last}",
                email=f"owner{i:03d}@example.org",
                phone=f"+1720555{i % 100:04d}" if i < 100 else f"+1303555{i % 100:04d}",
                sms_consent=rng.random() < 0.8,
            )
        )
    upsert(Owner, rows, ["email"])
    return list(Owner.objects.filter(email__endswith="@example.org").order_by("email"))


def asset_row(kind: str, substation: Substation, owner: Owner, n: int, rng) -> DERAsset:
    lat = substation.latitude + rng.uniform(-0.03, 0.03)
    lon = substation.longitude + rng.uniform(-0.03, 0.03)
    asset = DERAsset(
        uid=f"{substation.code}-{kind}-{n:03d}",
        kind=kind,
        owner=owner,
        substation=substation,
        latitude=round(lat, 5),
        longitude=round(lon, 5),
    )
    if kind == AssetKind.BATTERY:
        commercial = n % 10 == 0
        asset.name = (
            f"{owner.name}'s {'commercial BESS' if commercial else 'home battery'}"
        )
        asset.max_discharge_power = (
            100.0 if commercial else rng.choice([5.0, 7.6, 11.5])
        )
        asset.max_charge_power_kw = asset.max_discharge_power
        asset.energy_capacity_kwh = 215.0 if commercial else 13.5 * rng.choice([1, 2])
        asset.state_of_charge = round(rng.uniform(45, 95), 1)
        asset.min_soc_reserve = 20.0
        asset.ramp_limit_kw_per_s = asset.max_discharge_power / 10
        asset.protocol = Protocol.IEEE_2030_5
    elif kind == AssetKind.PV:
        asset.name = f"{owner.name}'s rooftop PV"
        asset.pv_dc_kwp = rng.choice([4.8, 6.4, 8.0, 9.6, 12.0])
        asset.pv_ac_limit_kw = round(asset.pv_dc_kwp / 1.2, 1)
        asset.pv_tilt_deg = rng.choice([20.0, 25.0, 30.0, 35.0])
        asset.pv_azimuth_deg = rng.choice([135.0, 180.0, 180.0, 225.0])
        asset.protocol = Protocol.SUNSPEC_MODBUS
    elif kind == AssetKind.WIND:
        asset.name = f"{owner.name}'s wind turbine"
        asset.wind_rated_kw = 100.0
        asset.wind_hub_height_m = 37.0
        asset.protocol = Protocol.SUNSPEC_MODBUS
    else:
        asset.name = f"{owner.name}'s EV charger"
        asset.max_charge_power_kw = 7.2
        asset.protocol = Protocol.OCPP
    return asset


def build_assets(substations: dict[str, Substation], owners: list[Owner], rng) -> int:
    rows = []
    for substation in substations.values():
        for kind, count in ASSETS_PER_SUBSTATION.items():
            for n in range(count):
                owner = owners[rng.randrange(len(owners))]
                rows.append(asset_row(kind, substation, owner, n, rng))
    # Only the registry's description is reset; live state (status, setpoints,
    # state of charge, last telemetry) of an existing asset is left alone.
    live = {"status", "target_output_kw", "state_of_charge", "last_telemetry_at"}
    fields = [
        f.name
        for f in DERAsset._meta.concrete_fields
        if not f.primary_key and f.name not in {"uid", "created_at", *live}
    ]
    DERAsset.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["uid"], update_fields=fields
    )
    return len(rows)


def build_error_codes() -> None:
    upsert(
        HardwareErrorCode,
        [
            HardwareErrorCode(code=c, description=d, severity=s)
            for c, d, s in ERROR_CODES
        ],
        ["code"],
    )


def build_logins(owner: Owner) -> list[Login]:
    User = get_user_model()
    roles.roles_sync()
    for login in LOGINS:
        user, _ = User.objects.get_or_create(username=login.username)
        user.is_staff = True
        user.is_superuser = login.role == "superuser"
        user.email = f"{login.username}@example.org"
        user.set_password(login.password)
        user.save()
        user.groups.set(Group.objects.filter(name=login.role))
    Owner.objects.filter(user__username="owner").exclude(pk=owner.pk).update(user=None)
    owner.user = User.objects.get(username="owner")
    owner.save(update_fields=["user"])
    return LOGINS


@transaction.atomic
def demo_build() -> dict:
    """Create or refresh the demo grid; returns counts and the logins to print."""
    rng = random.Random(1547)
    substations = build_substations()
    owners = build_owners(rng)
    assets = build_assets(substations, owners, rng)
    build_error_codes()
    owner = (
        DERAsset.objects.filter(kind=AssetKind.BATTERY).order_by("uid").first().owner
    )
    logins = build_logins(owner)
    return {
        "substations": len(substations),
        "owners": len(owners),
        "assets": assets,
        "logins": logins,
        "owner_name": owner.name,
    }


def history_yesterday() -> str:
    """Yesterday (the demo's local day) filled by dermgmt.history, unless it
    already has readings; says what it did."""
    substations = list(Substation.objects.order_by("code"))
    zone = substations[0].zone
    today = timezone.now().astimezone(zone).date()
    start = datetime.combine(today - timedelta(days=1), time(), tzinfo=zone)
    if GridReading.objects.filter(
        measured_at__gte=start, measured_at__lt=start + timedelta(days=1)
    ).exists():
        return f"History: {start:%Y-%m-%d} has readings already; left as it is."
    counts = history_write(substations=substations, start=start)
    return f"History: {start:%Y-%m-%d} filled: " + ", ".join(
        f"{n:,} {name}" for name, n in counts.items()
    )
