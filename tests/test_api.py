"""The REST API (/api/v1/): who may call what, batch ingest, manual setpoints,
the weather push, constant query counts and the stability reports' PDF."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from assets.models import AssetTelemetry, DERAsset, HardwareErrorCode, Owner
from dermgmt.api.auth import token_create
from dermgmt.api.urls import router
from dermgmt.ingest import MAX_ITEMS
from dermgmt.models import ApiToken
from dermgmt.schedule import safety_tasks_assert
from dermgmt.tasks import heartbeat
from dispatch.models import DispatchRun, SetpointCommand
from forecasting.models import EnergyForecast, WeatherForecast
from grid.models import GridReading
from incidents.models import (
    ActiveAlert,
    GridIncident,
    IncidentKind,
    IncidentStatus,
    Notification,
    TaskStatus,
    TechnicianTask,
)
from reports.models import StabilityReport
from tests.conftest import (
    make_battery,
    make_fleet,
    make_owner,
    make_reading,
    make_sensor,
    make_substation,
)

pytestmark = pytest.mark.django_db

LISTS = [f"/api/v1/{prefix}/" for prefix, _, _ in router.registry]
_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def no_throttle_carry_over():
    """Throttle counters live in the cache: each test starts with none."""
    cache.clear()
    yield
    cache.clear()


def session(user) -> APIClient:
    api = APIClient()
    api.force_login(user)
    return api


def with_token(user, *scopes: str) -> tuple[APIClient, ApiToken]:
    token, key = token_create(name="integration", user=user, scopes=list(scopes))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api, token


def listed(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def make_code(code: str = "E-BMS", severity: str = "critical") -> HardwareErrorCode:
    return HardwareErrorCode.objects.get_or_create(
        code=code, defaults={"description": code, "severity": severity}
    )[0]


def make_telemetry(asset: DERAsset, *, age_s: float = 1.0, **fields) -> AssetTelemetry:
    values = {
        "measured_at": timezone.now() - timedelta(seconds=age_s),
        "output_kw": 1.0,
    } | fields
    return AssetTelemetry.objects.create(asset=asset, **values)


def make_task(asset: DERAsset, **fields) -> TechnicianTask:
    now = timezone.now()
    values = {
        "error_code": make_code(),
        "priority": 1,
        "due_at": now,
        "created_at": now,
    } | fields
    return TechnicianTask.objects.create(asset=asset, **values)


def make_notification(owner: Owner | None, **fields) -> Notification:
    now = timezone.now()
    values = {
        "channel": "email",
        "recipient": owner.email if owner else "ops@example.org",
        "template": "test",
        "idempotency_key": f"test-{next(_numbers)}",
        "next_attempt_at": now,
        "created_at": now,
    } | fields
    return Notification.objects.create(owner=owner, **values)


def make_command(asset: DERAsset, **fields) -> SetpointCommand:
    values = {
        "created_at": timezone.now(),
        "previous_kw": 0.0,
        "new_kw": 1.0,
        "reason": "cycle",
    } | fields
    return SetpointCommand.objects.create(asset=asset, **values)


def make_incident(substation, **fields) -> GridIncident:
    values = {
        "kind": IncidentKind.VOLTAGE,
        "severity": 1,
        "status": IncidentStatus.ARCHIVED,
        "opened_at": timezone.now(),
        "worst_value": 1.07,
        "description": "Voltage high",
    } | fields
    return GridIncident.objects.create(substation=substation, **values)


def make_report(substation=None, **fields) -> StabilityReport:
    report = StabilityReport.objects.create(
        day=fields.pop("day", date(2026, 1, 1)),
        substation=substation,
        time_zone="America/Denver",
        status="ready",
        generated_at=timezone.now(),
        pages=1,
        **fields,
    )
    report.pdf.save("r.pdf", ContentFile(b"%PDF-1.7 test"))
    return report


# --- Permissions -----------------------------------------------------------------


def test_anonymous_is_refused_every_list_but_not_the_schema_or_health():
    api = APIClient()
    for url in ["/api/v1/", *LISTS]:
        assert api.get(url).status_code in (401, 403), url
    assert api.get("/api/schema/").status_code == 200
    heartbeat.delay()  # eager in tests; without it /healthz is 503 (beat missing)
    safety_tasks_assert()  # as beat does at start: else 503 (safety tasks missing)
    assert api.get("/healthz").status_code == 200


def test_anonymous_cannot_ingest_or_command_a_setpoint(owner_user):
    api = APIClient()
    assert api.post("/api/v1/grid-readings/", {}, format="json").status_code == 401
    setpoint = api.post(
        "/api/v1/assets/owners-own-battery/setpoint/",
        {"target_output_kw": 1},
        format="json",
    )
    assert setpoint.status_code == 401


def test_an_owner_lists_only_its_own_rows(owner_user, outsider):
    own_owner = Owner.objects.get(user=owner_user)
    other_owner = Owner.objects.get(user=outsider)
    own = DERAsset.objects.get(uid="owners-own-battery")
    other = DERAsset.objects.get(uid="outsiders-battery")
    for asset in (own, other):
        make_telemetry(asset)
        make_command(asset)
        make_task(asset)
    make_notification(own_owner)
    make_notification(other_owner)
    make_notification(None)  # to the operators

    api = session(owner_user)
    assert [o["id"] for o in listed(api.get("/api/v1/owners/"))] == [own_owner.pk]
    for url in [
        "/api/v1/assets/",
        "/api/v1/telemetry/",
        "/api/v1/setpoint-commands/",
        "/api/v1/technician-tasks/",
    ]:
        rows = listed(api.get(url))
        assert [row.get("uid", row.get("asset")) for row in rows] == [own.uid], url
    notes = listed(api.get("/api/v1/notifications/"))
    assert [n["recipient"] for n in notes] == [own_owner.email]
    # As staff sees it, the other rows exist.
    assert Notification.objects.count() == 3


def test_an_owner_cannot_read_another_owners_asset(owner_user, outsider):
    api = session(owner_user)
    assert api.get("/api/v1/assets/owners-own-battery/").status_code == 200
    assert api.get("/api/v1/assets/outsiders-battery/").status_code == 404
    other = Owner.objects.get(user=outsider)
    assert api.get(f"/api/v1/owners/{other.pk}/").status_code == 404


def test_an_owner_cannot_read_the_grid_dispatch_or_incidents(owner_user):
    api = session(owner_user)
    for url in [
        "/api/v1/substations/",
        "/api/v1/grid-readings/",
        "/api/v1/dispatch-runs/",
        "/api/v1/incidents/",
    ]:
        assert api.get(url).status_code == 403, url


def test_a_technician_sees_tasks_and_assets_but_not_owners_or_ingest(technician):
    battery = make_fleet(make_substation(), 1)[0]
    make_task(battery)
    api = session(technician)
    assert [t["asset"] for t in listed(api.get("/api/v1/technician-tasks/"))] == [
        battery.uid
    ]
    assert [a["uid"] for a in listed(api.get("/api/v1/assets/"))] == [battery.uid]
    assert api.get("/api/v1/owners/").status_code == 403
    reading = reading_item(make_sensor(battery.substation), timezone.now())
    response = api.post("/api/v1/grid-readings/", reading, format="json")
    assert response.status_code == 403
    assert not GridReading.objects.exists()


def test_an_operator_reads_every_list(operator):
    api = session(operator)
    for url in ["/api/v1/", *LISTS]:
        assert api.get(url).status_code == 200, url


def test_a_read_token_cannot_ingest_or_command_a_setpoint(operator):
    battery = make_fleet(make_substation(), 1)[0]
    sensor = make_sensor(battery.substation)
    api, _ = with_token(operator, "read")
    assert api.get("/api/v1/grid-readings/").status_code == 200
    reading = reading_item(sensor, timezone.now())
    ingest = api.post("/api/v1/grid-readings/", reading, format="json")
    assert ingest.status_code == 403
    assert "lacks the 'ingest' scope" in ingest.json()["detail"]
    setpoint = api.post(
        f"/api/v1/assets/{battery.uid}/setpoint/",
        {"target_output_kw": 1},
        format="json",
    )
    assert setpoint.status_code == 403
    assert "lacks the 'setpoint' scope" in setpoint.json()["detail"]
    assert not GridReading.objects.exists()
    assert not SetpointCommand.objects.exists()


def test_a_setpoint_token_of_a_user_without_the_permission_is_refused(technician):
    """The scope is on top of the user's permissions, never instead of them."""
    battery = make_fleet(make_substation(), 1)[0]
    assert not technician.has_perm("assets.command_setpoint")
    api, _ = with_token(technician, "read", "setpoint")
    response = api.post(
        f"/api/v1/assets/{battery.uid}/setpoint/",
        {"target_output_kw": 1},
        format="json",
    )
    assert response.status_code == 403
    battery.refresh_from_db()
    assert battery.target_output_kw == 0.0
    assert not SetpointCommand.objects.exists()


def test_a_revoked_token_or_a_wrong_secret_is_refused(operator):
    api, token = with_token(operator, "read")
    assert api.get("/api/v1/substations/").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    assert api.get("/api/v1/substations/").status_code == 401

    _, live = with_token(operator, "read")
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION=f"Token {live.prefix}.not-the-secret")
    assert wrong.get("/api/v1/substations/").status_code == 401
    unknown = APIClient()
    unknown.credentials(HTTP_AUTHORIZATION="Token nosuch.secret")
    assert unknown.get("/api/v1/substations/").status_code == 401


def test_a_token_of_an_inactive_user_is_refused(operator):
    api, _ = with_token(operator, "read")
    operator.is_active = False
    operator.save()
    assert api.get("/api/v1/substations/").status_code == 401


def test_an_owners_token_sees_only_its_owners_assets(owner_user, outsider):
    api, _ = with_token(owner_user, "read")
    assert [a["uid"] for a in listed(api.get("/api/v1/assets/"))] == [
        "owners-own-battery"
    ]
    assert api.get("/api/v1/assets/outsiders-battery/").status_code == 404


def test_a_token_records_when_it_was_last_used(operator):
    api, token = with_token(operator, "read")
    assert token.last_used_at is None
    before = timezone.now()
    assert api.get("/api/v1/substations/").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None and token.last_used_at >= before


# --- Ingest ----------------------------------------------------------------------


@pytest.fixture
def sensor():
    return make_sensor(make_substation())


def reading_item(sensor, at, **fields) -> dict:
    return {
        "sensor": sensor.uid,
        "measured_at": at.isoformat(),
        "frequency_hz": 60.01,
        "voltage_pu": 1.01,
        "voltage_v": 12_595.0,
        "load_kw": 420.5,
    } | fields


def readings(sensor, count: int) -> list[dict]:
    now = timezone.now()
    return [reading_item(sensor, now - timedelta(seconds=i)) for i in range(count)]


def test_one_reading_or_a_list_is_ingested(operator, sensor):
    api = session(operator)
    now = timezone.now()
    one = api.post("/api/v1/grid-readings/", reading_item(sensor, now), format="json")
    assert (one.status_code, one.json()) == (201, {"received": 1})
    batch = [reading_item(sensor, now - timedelta(seconds=s)) for s in (1, 2, 3)]
    many = api.post("/api/v1/grid-readings/", batch, format="json")
    assert (many.status_code, many.json()) == (201, {"received": 3})
    assert GridReading.objects.filter(sensor=sensor).count() == 4
    stored = GridReading.objects.get(measured_at=now)
    assert (stored.substation_id, stored.frequency_hz, stored.voltage_v) == (
        sensor.substation_id,
        60.01,
        12_595.0,
    )
    sensor.refresh_from_db()
    assert sensor.last_reading_at == now


def test_an_ingest_token_sends_readings(operator, sensor):
    api, _ = with_token(operator, "ingest")
    response = api.post("/api/v1/grid-readings/", readings(sensor, 2), format="json")
    assert response.status_code == 201
    assert GridReading.objects.count() == 2


def test_re_sent_readings_are_not_duplicated(operator, sensor):
    api = session(operator)
    batch = readings(sensor, 5)
    assert api.post("/api/v1/grid-readings/", batch, format="json").status_code == 201
    again = api.post("/api/v1/grid-readings/", batch[2:] + batch, format="json")
    assert (again.status_code, again.json()) == (201, {"received": 8})
    assert GridReading.objects.count() == 5


MISSING = object()
BAD_READINGS = {
    "unknown sensor": ("sensor", {"sensor": "no-such-sensor"}),
    "frequency 500": ("frequency_hz", {"frequency_hz": 500}),
    "negative voltage": ("voltage_pu", {"voltage_pu": -1}),
    "naive timestamp": ("measured_at", {"measured_at": "2026-01-01T00:00:00"}),
    "future timestamp": (
        "measured_at",
        {"measured_at": (timezone.now() + timedelta(days=1)).isoformat()},
    ),
    "not a timestamp": ("measured_at", {"measured_at": "yesterday"}),
    "missing field": ("load_kw", {"load_kw": MISSING}),
    "string for a number": ("frequency_hz", {"frequency_hz": "60.0"}),
    "boolean for a number": ("load_kw", {"load_kw": True}),
    "overflowing number": ("load_kw", {"load_kw": 10**400}),
    "list for a sensor": ("sensor", {"sensor": [1]}),
}


@pytest.mark.parametrize("field, change", BAD_READINGS.values(), ids=BAD_READINGS)
def test_a_batch_with_one_bad_reading_is_refused_whole(operator, sensor, field, change):
    api = session(operator)
    batch = readings(sensor, 5)
    for name, value in change.items():
        if value is MISSING:
            del batch[3][name]
        else:
            batch[3][name] = value
    response = api.post("/api/v1/grid-readings/", batch, format="json")
    assert response.status_code == 400
    body = response.json()
    assert list(body["errors"]) == ["3"]
    assert list(body["errors"]["3"]) == [field]
    assert "nothing was stored" in body["detail"]
    assert GridReading.objects.count() == 0
    sensor.refresh_from_db()
    assert sensor.last_reading_at is None


def test_every_bad_item_is_reported(operator, sensor):
    api = session(operator)
    batch = readings(sensor, 4)
    batch[0]["frequency_hz"] = 500
    batch[0]["voltage_pu"] = -1
    batch[2]["sensor"] = "no-such-sensor"
    response = api.post("/api/v1/grid-readings/", batch, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {i: set(e) for i, e in errors.items()} == {
        "0": {"frequency_hz", "voltage_pu"},
        "2": {"sensor"},
    }


def test_a_batch_of_the_maximum_size_is_ingested(operator, sensor):
    api = session(operator)
    response = api.post(
        "/api/v1/grid-readings/", readings(sensor, MAX_ITEMS), format="json"
    )
    assert (response.status_code, response.json()) == (201, {"received": MAX_ITEMS})
    assert GridReading.objects.count() == MAX_ITEMS


def test_a_batch_over_the_maximum_or_empty_is_refused(operator, sensor):
    api = session(operator)
    item = reading_item(sensor, timezone.now())
    too_many = api.post(
        "/api/v1/grid-readings/", [item] * (MAX_ITEMS + 1), format="json"
    )
    assert too_many.status_code == 400
    assert "10,000" in too_many.json()["detail"]
    empty = api.post("/api/v1/grid-readings/", [], format="json")
    assert empty.status_code == 400
    not_objects = api.post("/api/v1/grid-readings/", [1, 2], format="json")
    assert not_objects.status_code == 400
    assert GridReading.objects.count() == 0


@pytest.fixture
def battery():
    return make_battery(make_substation(), make_owner(), state_of_charge=50.0)


def telemetry_item(asset, at, **fields) -> dict:
    return {
        "asset": asset.uid,
        "measured_at": at.isoformat(),
        "output_kw": -2.5,
        "state_of_charge": 61.5,
    } | fields


def test_telemetry_is_ingested_and_moves_the_asset_forward(operator, battery):
    api = session(operator)
    now = timezone.now()
    one = api.post(
        "/api/v1/telemetry/",
        telemetry_item(battery, now - timedelta(seconds=10), state_of_charge=55.0),
        format="json",
    )
    assert (one.status_code, one.json()) == (201, {"received": 1})
    make_code("W-TEMP", "warning")
    batch = [
        telemetry_item(battery, now, error_code="W-TEMP"),
        telemetry_item(battery, now - timedelta(seconds=5), state_of_charge=58.0),
    ]
    many = api.post("/api/v1/telemetry/", batch, format="json")
    assert (many.status_code, many.json()) == (201, {"received": 2})
    assert AssetTelemetry.objects.filter(asset=battery).count() == 3
    battery.refresh_from_db()
    assert battery.last_telemetry_at == now
    assert battery.state_of_charge == 61.5
    assert battery.last_error_code.code == "W-TEMP"


def test_re_sent_telemetry_is_not_duplicated(operator, battery):
    api, _ = with_token(operator, "ingest")
    now = timezone.now()
    batch = [telemetry_item(battery, now - timedelta(seconds=i)) for i in range(3)]
    assert api.post("/api/v1/telemetry/", batch, format="json").status_code == 201
    assert api.post("/api/v1/telemetry/", batch, format="json").status_code == 201
    assert AssetTelemetry.objects.count() == 3


BAD_TELEMETRY = {
    "unknown error code": ("error_code", {"error_code": "E-NOPE"}),
    "unknown asset": ("asset", {"asset": "no-such-asset"}),
    "state of charge 150": ("state_of_charge", {"state_of_charge": 150}),
    "naive timestamp": ("measured_at", {"measured_at": "2026-01-01T00:00:00"}),
    "missing output": ("output_kw", {"output_kw": MISSING}),
    "string for a number": ("output_kw", {"output_kw": "1.5"}),
    "list for an error code": ("error_code", {"error_code": ["E-BMS"]}),
}


@pytest.mark.parametrize("field, change", BAD_TELEMETRY.values(), ids=BAD_TELEMETRY)
def test_a_batch_with_one_bad_telemetry_row_is_refused_whole(
    operator, battery, field, change
):
    make_code()
    api = session(operator)
    now = timezone.now()
    batch = [telemetry_item(battery, now - timedelta(seconds=i)) for i in range(3)]
    for name, value in change.items():
        if value is MISSING:
            del batch[1][name]
        else:
            batch[1][name] = value
    response = api.post("/api/v1/telemetry/", batch, format="json")
    assert response.status_code == 400
    assert {i: list(e) for i, e in response.json()["errors"].items()} == {"1": [field]}
    assert AssetTelemetry.objects.count() == 0
    battery.refresh_from_db()
    assert (battery.last_telemetry_at, battery.state_of_charge) == (None, 50.0)


# --- Manual setpoint ---------------------------------------------------------------


@pytest.fixture
def reporting_battery():
    """An active battery that reported a moment ago: 5 kW max, 80 % charged."""
    return make_fleet(make_substation(), 1)[0]


def setpoint(api, uid: str, target_kw):
    return api.post(
        f"/api/v1/assets/{uid}/setpoint/",
        {"target_output_kw": target_kw},
        format="json",
    )


def test_an_operator_commands_a_manual_setpoint(operator, reporting_battery):
    response = setpoint(session(operator), reporting_battery.uid, 2.5)
    assert response.status_code == 200
    assert response.json()["target_output_kw"] == 2.5
    assert response.json()["setpoint_source"] == "manual"
    reporting_battery.refresh_from_db()
    assert reporting_battery.target_output_kw == 2.5
    command = SetpointCommand.objects.get()
    assert (command.asset_id, command.user, command.reason) == (
        reporting_battery.pk,
        operator,
        "manual",
    )
    assert (command.previous_kw, command.new_kw) == (0.0, 2.5)


def test_a_setpoint_token_commands_a_setpoint_as_its_user(operator, reporting_battery):
    api, _ = with_token(operator, "setpoint")
    assert setpoint(api, reporting_battery.uid, 1).status_code == 200
    assert SetpointCommand.objects.get().user == operator


@pytest.mark.parametrize("target_kw", [50, -1, "lots"])
def test_a_setpoint_beyond_the_limits_is_refused_and_changes_nothing(
    operator, reporting_battery, target_kw
):
    response = setpoint(session(operator), reporting_battery.uid, target_kw)
    assert response.status_code == 400
    assert "target_output_kw" in response.json()
    reporting_battery.refresh_from_db()
    assert reporting_battery.target_output_kw == 0.0
    assert not SetpointCommand.objects.exists()


def test_a_setpoint_on_a_battery_without_fresh_telemetry_is_refused(operator):
    stale = make_fleet(
        make_substation(), 1, last_telemetry_at=timezone.now() - timedelta(hours=1)
    )[0]
    response = setpoint(session(operator), stale.uid, 1)
    assert response.status_code == 400
    assert not SetpointCommand.objects.exists()


def test_an_owner_cannot_command_a_setpoint(owner_user):
    own = DERAsset.objects.get(uid="owners-own-battery")
    DERAsset.objects.filter(pk=own.pk).update(last_telemetry_at=timezone.now())
    assert setpoint(session(owner_user), own.uid, 1).status_code == 403
    own.refresh_from_db()
    assert own.target_output_kw == 0.0
    assert not SetpointCommand.objects.exists()


def test_a_setpoint_on_an_unknown_asset_is_not_found(operator):
    assert setpoint(session(operator), "no-such-asset", 1).status_code == 404


# --- Weather push --------------------------------------------------------------------


def forecasts(substation, *, ghi: float = 500.0) -> list[dict]:
    issued = timezone.now().replace(minute=0, second=0, microsecond=0)
    return [
        {
            "substation": substation.code,
            "provider": "partner",
            "issued_at": issued.isoformat(),
            "valid_at": (issued + timedelta(hours=h)).isoformat(),
            "ghi_w_m2": ghi + h,
            "air_temperature_c": 12.5,
            "wind_speed_m_s": 4.0,
        }
        for h in (1, 2)
    ]


def test_a_forecasts_token_pushes_weather_and_a_repeat_updates(operator, substation):
    api, _ = with_token(operator, "forecasts")
    first = api.post("/api/v1/weather-forecasts/", forecasts(substation), format="json")
    assert (first.status_code, first.json()) == (201, {"received": 2})
    again = api.post(
        "/api/v1/weather-forecasts/", forecasts(substation, ghi=700.0), format="json"
    )
    assert again.status_code == 201
    stored = WeatherForecast.objects.order_by("valid_at")
    assert [f.ghi_w_m2 for f in stored] == [701.0, 702.0]


def test_a_forecast_repeated_within_one_push_is_stored_once(operator, substation):
    """An exact repeat is a retry; one that disagrees refuses the push
    (tests/security/test_ingest_input.py)."""
    api, _ = with_token(operator, "forecasts")
    pushed = forecasts(substation)
    repeated = [*pushed, pushed[0]]
    response = api.post("/api/v1/weather-forecasts/", repeated, format="json")
    assert (response.status_code, response.json()) == (201, {"received": 3})
    assert WeatherForecast.objects.count() == 2
    assert WeatherForecast.objects.filter(ghi_w_m2=501.0).count() == 1


def test_a_negative_irradiance_is_refused(operator, substation):
    api, _ = with_token(operator, "forecasts")
    pushed = forecasts(substation)
    pushed[1]["ghi_w_m2"] = -5
    response = api.post("/api/v1/weather-forecasts/", pushed, format="json")
    assert response.status_code == 400
    assert not WeatherForecast.objects.exists()


def test_an_ingest_token_cannot_push_forecasts(operator, substation):
    api, _ = with_token(operator, "ingest")
    response = api.post(
        "/api/v1/weather-forecasts/", forecasts(substation), format="json"
    )
    assert response.status_code == 403
    assert not WeatherForecast.objects.exists()


# --- Constant query count ------------------------------------------------------------


@pytest.fixture
def world(operator):
    substation = make_substation()
    owner = make_owner()
    return SimpleNamespace(
        user=operator,
        substation=substation,
        owner=owner,
        battery=make_battery(substation, owner),
        sensor=make_sensor(substation),
        code=make_code(),
    )


def run_of(world, n: int) -> DispatchRun:
    return DispatchRun.objects.create(
        substation=world.substation,
        slot_at=timezone.now() - timedelta(seconds=n),
        started_at=timezone.now(),
        outcome="dispatched",
    )


def a_task(world, n: int) -> TechnicianTask:
    asset = make_battery(world.substation, world.owner)
    incident = make_incident(world.substation)
    return make_task(
        asset, assignee=world.user, incident=incident, status=TaskStatus.ASSIGNED
    )


def an_alert(world, n: int) -> ActiveAlert:
    incident = make_incident(make_substation(), status=IncidentStatus.OPEN)
    return ActiveAlert.objects.create(incident=incident, raised_at=timezone.now())


def an_energy_forecast(world, n: int) -> EnergyForecast:
    now = timezone.now()
    return EnergyForecast.objects.create(
        substation=world.substation,
        issued_at=now,
        valid_at=now + timedelta(minutes=15 * n),
        model_version="test",
        solar_raw_kw=1.0,
        wind_raw_kw=1.0,
        solar_kw=1.0,
        wind_kw=1.0,
        expected_generation=2.0,
        capacity_kw=10.0,
    )


MAKERS = {
    "assets": lambda w, n: make_battery(
        w.substation, make_owner(), last_error_code=w.code
    ),
    "telemetry": lambda w, n: make_telemetry(
        make_battery(w.substation, w.owner), age_s=n, error_code=w.code
    ),
    "grid-readings": lambda w, n: make_reading(w.substation, sensor=w.sensor, age_s=n),
    "setpoint-commands": lambda w, n: make_command(
        make_battery(w.substation, w.owner), user=w.user, run=run_of(w, n)
    ),
    "technician-tasks": a_task,
    "active-alerts": an_alert,
    "incidents": lambda w, n: make_incident(make_substation()),
    "dispatch-runs": run_of,
    "energy-forecasts": an_energy_forecast,
    "notifications": lambda w, n: make_notification(
        make_owner(), incident=make_incident(w.substation)
    ),
    "stability-reports": lambda w, n: make_report(
        make_substation(), day=date(2026, 1, 1) + timedelta(days=n)
    ),
}


@pytest.mark.parametrize("endpoint", MAKERS)
def test_a_list_costs_the_same_queries_whatever_its_length(world, endpoint):
    make = MAKERS[endpoint]
    api = session(world.user)
    url = f"/api/v1/{endpoint}/"
    before = {"assets": 1}.get(endpoint, 0)  # the world's own battery

    def queries_of_list(expected: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            rows = listed(api.get(url))
        assert len(rows) == expected + before
        return len(captured)

    numbers = itertools.count(1)
    for _ in range(3):
        make(world, next(numbers))
    few = queries_of_list(3)
    for _ in range(30):
        make(world, next(numbers))
    assert queries_of_list(33) == few


# --- Stability reports -------------------------------------------------------------


def test_an_operator_lists_reports_and_downloads_the_pdf(operator):
    report = make_report(make_substation())
    api = session(operator)
    rows = listed(api.get("/api/v1/stability-reports/"))
    assert [r["id"] for r in rows] == [report.pk]
    assert rows[0]["pdf"].endswith(f"/api/v1/stability-reports/{report.pk}/pdf/")
    response = api.get(f"/api/v1/stability-reports/{report.pk}/pdf/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content).startswith(b"%PDF")


def test_a_reports_own_pdf_link_leads_to_its_pdf(operator):
    report = make_report(make_substation())
    api = session(operator)
    detail = api.get(f"/api/v1/stability-reports/{report.pk}/")
    assert detail.status_code == 200
    link = detail.json()["pdf"]
    assert link.endswith(f"/api/v1/stability-reports/{report.pk}/pdf/")
    assert api.get(link).status_code == 200


def test_a_report_without_a_pdf_yet_has_no_link(operator):
    report = StabilityReport.objects.create(
        day=date(2026, 1, 2), time_zone="America/Denver"
    )
    api = session(operator)
    assert listed(api.get("/api/v1/stability-reports/"))[0]["pdf"] is None
    assert api.get(f"/api/v1/stability-reports/{report.pk}/pdf/").status_code == 404


def test_an_owner_cannot_read_reports(owner_user):
    report = make_report(make_substation())
    api = session(owner_user)
    assert api.get("/api/v1/stability-reports/").status_code == 403
    assert api.get(f"/api/v1/stability-reports/{report.pk}/pdf/").status_code == 403


def test_the_fast_asset_list_says_what_the_serializer_says(client, operator):
    """The list is built from .values(); each row must equal the detail's JSON."""
    substation = make_substation()
    asset = make_battery(substation, make_owner(), last_telemetry_at=timezone.now())
    code = HardwareErrorCode.objects.create(
        code="E-LIST", description="x", severity="warning"
    )
    DERAsset.objects.filter(pk=asset.pk).update(last_error_code=code)
    client.force_login(operator)
    (row,) = client.get("/api/v1/assets/").json()["results"]
    assert row == client.get(f"/api/v1/assets/{asset.uid}/").json()
    assert row["substation"] == substation.code and row["last_error_code"] == "E-LIST"
    ordered = client.get("/api/v1/assets/?ordering=-uid").json()["results"]
    assert [r["uid"] for r in ordered] == [asset.uid]
