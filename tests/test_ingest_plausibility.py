"""Physically impossible numbers (issue 16): the ingest refuses them per item and
field, whatever door sends them, and none that is already stored reaches JSON.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from assets.models import AssetKind, AssetTelemetry, DERAsset
from assets.services import telemetry_record
from dermgmt.ingest import BatchInvalid
from dispatch.models import DispatchRun, Outcome
from forecasting.models import EnergyForecast
from forecasting.services import BUCKET, actuals_record
from grid.models import GridReading
from grid.services import readings_record
from tests.conftest import (
    make_battery,
    make_owner,
    make_reading,
    make_sensor,
    make_substation,
)
from tests.test_api import reading_item, session, telemetry_item, with_token

pytestmark = pytest.mark.django_db

READINGS = "/api/v1/grid-readings/"
TELEMETRY = "/api/v1/telemetry/"
TOKEN = "__value__"  # stands in for a raw JSON token in a body


@pytest.fixture(autouse=True)
def no_throttle_carry_over():
    """Throttle counters live in the cache: each test starts with none."""
    cache.clear()
    yield
    cache.clear()


def beyond(bound: float, direction: float) -> float:
    """The float next to `bound`, away from it towards `direction`."""
    return math.nextafter(bound, direction)


def post(api, url: str, batch: list[dict], raw: str | None = None):
    """POST `batch` as JSON; `raw` replaces the string TOKEN as a bare JSON token
    (NaN, Infinity), as an integration's own encoder would write it."""
    body = json.dumps(batch)
    if raw is not None:
        body = body.replace(json.dumps(TOKEN), raw)
    return api.post(url, body, content_type="application/json")


def refused(response, index: int, field: str) -> str:
    """The one error of a refused batch: item `index`, `field`; its message."""
    assert response.status_code == 400, response.content
    body = response.json()
    assert "nothing was stored" in body["detail"]
    assert {i: list(e) for i, e in body["errors"].items()} == {str(index): [field]}
    return body["errors"][str(index)][field]


# As an integration may send them: a number, a bare JSON token, a string.
EXTREMES = {
    "1e308": (1e308, None),
    "1e30": (1e30, None),
    "-1e308": (-1e308, None),
    "1e400 (inf once read)": (TOKEN, "1e400"),
    "NaN token": (TOKEN, "NaN"),
    "Infinity token": (TOKEN, "Infinity"),
    "-Infinity token": (TOKEN, "-Infinity"),
    "NaN string": ("NaN", None),
    "Infinity string": ("Infinity", None),
    "1e308 string": ("1e308", None),
}


# --- Grid readings -------------------------------------------------------------------


@pytest.fixture
def sensor():
    """A 60 Hz substation importing up to 5 MW: load plausible to 50 MW."""
    return make_sensor(
        make_substation(import_capacity_kw=5_000.0, nominal_voltage_v=12_470.0)
    )


def reading_batch(sensor, count: int = 3, **fields) -> list[dict]:
    """`count` good readings, the middle one (index 1) changed by `fields`."""
    now = timezone.now()
    nominal = sensor.substation.nominal_frequency_hz
    batch = [
        reading_item(sensor, now - timedelta(seconds=i), frequency_hz=nominal + 0.01)
        for i in range(count)
    ]
    batch[1] |= fields
    return batch


def assert_no_reading_stored(sensor) -> None:
    assert GridReading.objects.count() == 0
    sensor.refresh_from_db()
    assert sensor.last_reading_at is None


@pytest.mark.parametrize("value, raw", EXTREMES.values(), ids=EXTREMES)
@pytest.mark.parametrize(
    "field", ["frequency_hz", "voltage_pu", "voltage_v", "load_kw"]
)
def test_an_extreme_reading_refuses_the_batch_and_stores_nothing(
    operator, sensor, field, value, raw
):
    api, _ = with_token(operator, "ingest")
    response = post(api, READINGS, reading_batch(sensor, **{field: value}), raw)
    refused(response, 1, field)
    assert_no_reading_stored(sensor)


def test_the_error_says_the_value_and_the_bound(operator, sensor):
    response = post(session(operator), READINGS, reading_batch(sensor, load_kw=1e30))
    message = refused(response, 1, "load_kw")
    assert message == (
        "1e+30 is out of range: must be between 0 and 50000 (10 x the import "
        "capacity of 5000 kW, at least 10000 kW)."
    )
    nan = post(session(operator), READINGS, reading_batch(sensor, load_kw=TOKEN), "NaN")
    assert refused(nan, 1, "load_kw") == "A finite number is required, not nan."
    text = post(session(operator), READINGS, reading_batch(sensor, load_kw="NaN"))
    assert refused(text, 1, "load_kw") == "A number is required, not 'NaN'."


# (field, value at the bound: accepted, the next float beyond it: refused)
READING_EDGES = {
    "load at 10x import": ("load_kw", 50_000.0, beyond(50_000.0, math.inf)),
    "load at 0": ("load_kw", 0.0, beyond(0.0, -math.inf)),
    "frequency at 65 Hz": ("frequency_hz", 65.0, beyond(65.0, math.inf)),
    "frequency at 55 Hz": ("frequency_hz", 55.0, beyond(55.0, -math.inf)),
    "voltage at 2 pu": ("voltage_pu", 2.0, beyond(2.0, math.inf)),
    "voltage at 0 pu": ("voltage_pu", 0.0, beyond(0.0, -math.inf)),
    "voltage at 2x nominal V": ("voltage_v", 24_940.0, beyond(24_940.0, math.inf)),
}


@pytest.mark.parametrize("field, edge, past", READING_EDGES.values(), ids=READING_EDGES)
def test_a_reading_at_its_bound_is_stored_and_one_beyond_is_refused(
    operator, sensor, field, edge, past
):
    api = session(operator)
    refused(post(api, READINGS, reading_batch(sensor, **{field: past})), 1, field)
    assert_no_reading_stored(sensor)
    response = post(api, READINGS, reading_batch(sensor, **{field: edge}))
    assert (response.status_code, response.json()) == (201, {"received": 3})
    stored = GridReading.objects.order_by("-measured_at")[1]
    assert getattr(stored, field) == edge


def test_a_negative_zero_load_is_stored_as_zero(operator, sensor):
    response = post(session(operator), READINGS, reading_batch(sensor, load_kw=-0.0))
    assert response.status_code == 201
    load = GridReading.objects.order_by("-measured_at")[1].load_kw
    assert load == 0.0 and math.copysign(1.0, load) == 1.0


def test_the_bounds_follow_the_substation(operator):
    """50 Hz: 45-55 Hz; no import capacity: load up to the 10 MW floor."""
    site = make_substation(nominal_frequency_hz=50, import_capacity_kw=0.0)
    sensor = make_sensor(site)
    api = session(operator)
    for field, past in [
        ("frequency_hz", 55.01),
        ("frequency_hz", 44.99),
        ("load_kw", beyond(10_000.0, math.inf)),
    ]:
        refused(post(api, READINGS, reading_batch(sensor, **{field: past})), 1, field)
    assert_no_reading_stored(sensor)
    edges = reading_batch(sensor, frequency_hz=45.0, load_kw=10_000.0)
    edges[0]["frequency_hz"] = 55.0
    assert post(api, READINGS, edges).status_code == 201


def test_every_implausible_item_is_reported(operator, sensor):
    batch = reading_batch(sensor, count=4, load_kw=1e308)
    batch[3] |= {"frequency_hz": 0.0, "voltage_v": -1e308}
    response = post(session(operator), READINGS, batch)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {i: set(e) for i, e in errors.items()} == {
        "1": {"load_kw"},
        "3": {"frequency_hz", "voltage_v"},
    }
    assert_no_reading_stored(sensor)


def test_the_simulators_door_refuses_an_implausible_reading_too(sensor):
    """readings_record (the simulator's, and any future bridge's) holds the rule."""
    good = GridReading(
        substation=sensor.substation,
        sensor=sensor,
        measured_at=timezone.now(),
        frequency_hz=60.0,
        voltage_pu=1.0,
        load_kw=1e308,
    )
    with pytest.raises(BatchInvalid) as invalid:
        readings_record(readings=[good])
    assert list(invalid.value.errors) == [0]
    assert list(invalid.value.errors[0]) == ["load_kw"]
    assert_no_reading_stored(sensor)


# --- Telemetry -----------------------------------------------------------------------


@pytest.fixture
def battery():
    """5 kW either way: output plausible to ±17.5 kW (1.5 x 5 + 10)."""
    return make_battery(
        make_substation(),
        make_owner(),
        max_discharge_power=5.0,
        max_charge_power_kw=5.0,
        state_of_charge=50.0,
    )


def telemetry_batch(asset, **fields) -> list[dict]:
    """Three good rows, the middle one (index 1) changed by `fields`."""
    now = timezone.now()
    batch = [telemetry_item(asset, now - timedelta(seconds=i)) for i in range(3)]
    batch[1] |= fields
    return batch


def assert_no_telemetry_stored(asset) -> None:
    assert AssetTelemetry.objects.count() == 0
    asset.refresh_from_db()
    assert (asset.last_telemetry_at, asset.state_of_charge) == (None, 50.0)


@pytest.mark.parametrize("value, raw", EXTREMES.values(), ids=EXTREMES)
@pytest.mark.parametrize("field", ["output_kw", "state_of_charge"])
def test_extreme_telemetry_refuses_the_batch_and_stores_nothing(
    operator, battery, field, value, raw
):
    api, _ = with_token(operator, "ingest")
    response = post(api, TELEMETRY, telemetry_batch(battery, **{field: value}), raw)
    refused(response, 1, field)
    assert_no_telemetry_stored(battery)


TELEMETRY_EDGES = {
    "discharging at the bound": ("output_kw", 17.5, beyond(17.5, math.inf)),
    "charging at the bound": ("output_kw", -17.5, beyond(-17.5, -math.inf)),
    "full": ("state_of_charge", 100.0, beyond(100.0, math.inf)),
    "empty": ("state_of_charge", 0.0, beyond(0.0, -math.inf)),
}


@pytest.mark.parametrize(
    "field, edge, past", TELEMETRY_EDGES.values(), ids=TELEMETRY_EDGES
)
def test_telemetry_at_its_bound_is_stored_and_beyond_is_refused(
    operator, battery, field, edge, past
):
    api = session(operator)
    message = refused(
        post(api, TELEMETRY, telemetry_batch(battery, **{field: past})), 1, field
    )
    assert "out of range" in message
    assert_no_telemetry_stored(battery)
    response = post(api, TELEMETRY, telemetry_batch(battery, **{field: edge}))
    assert (response.status_code, response.json()) == (201, {"received": 3})
    stored = AssetTelemetry.objects.order_by("-measured_at")[1]
    assert getattr(stored, field) == edge


def test_a_negative_zero_output_is_stored_as_zero(operator, battery):
    response = post(
        session(operator), TELEMETRY, telemetry_batch(battery, output_kw=-0.0)
    )
    assert response.status_code == 201
    output = AssetTelemetry.objects.order_by("-measured_at")[1].output_kw
    assert output == 0.0 and math.copysign(1.0, output) == 1.0


def test_the_output_bound_follows_the_assets_rating(operator):
    """PV of 8 kWp: ±22 kW; an asset with no rating: the 10 kW floor."""
    substation, owner = make_substation(), make_owner()
    pv = DERAsset.objects.create(
        uid="roof-pv",
        name="Roof",
        kind=AssetKind.PV,
        owner=owner,
        substation=substation,
        pv_dc_kwp=8.0,
    )
    load = DERAsset.objects.create(
        uid="heat-pump",
        name="Heat pump",
        kind=AssetKind.FLEXIBLE_LOAD,
        owner=owner,
        substation=substation,
    )
    api = session(operator)
    now = timezone.now()
    for asset, past in [(pv, 22.001), (load, -10.001)]:
        response = post(
            api,
            TELEMETRY,
            [telemetry_item(asset, now, output_kw=past, state_of_charge=None)],
        )
        assert "1.5 x the asset's largest power rating" in refused(
            response, 0, "output_kw"
        )
    assert AssetTelemetry.objects.count() == 0
    fine = [
        telemetry_item(pv, now, output_kw=22.0, state_of_charge=None),
        telemetry_item(load, now, output_kw=-10.0, state_of_charge=None),
    ]
    assert post(api, TELEMETRY, fine).status_code == 201


def test_the_simulators_door_refuses_implausible_telemetry_too(battery):
    with pytest.raises(BatchInvalid) as invalid:
        telemetry_record(
            telemetry=[
                AssetTelemetry(
                    asset=battery, measured_at=timezone.now(), output_kw=1.0
                ),
                AssetTelemetry(
                    asset=battery,
                    measured_at=timezone.now() - timedelta(seconds=1),
                    output_kw=1e308,
                ),
            ]
        )
    assert {i: list(e) for i, e in invalid.value.errors.items()} == {1: ["output_kw"]}
    assert_no_telemetry_stored(battery)


# --- What is already stored never reaches JSON as NaN or Infinity ---------------------


def strict_json(content: bytes):
    """json.loads that refuses NaN, Infinity and -Infinity, as a browser does."""

    def refuse(token: str):
        raise ValueError(f"{token} is not JSON")

    return json.loads(content, parse_constant=refuse)


def make_pv(substation, uid: str) -> DERAsset:
    return DERAsset.objects.create(
        uid=uid,
        name="Roof PV",
        kind=AssetKind.PV,
        owner=make_owner(),
        substation=substation,
        pv_dc_kwp=5.0,
    )


def make_forecast(substation, valid_at, **fields) -> EnergyForecast:
    values = {
        "issued_at": valid_at,
        "valid_at": valid_at,
        "model_version": "test",
        "solar_raw_kw": 1.0,
        "wind_raw_kw": 0.0,
        "solar_kw": 1.0,
        "wind_kw": 0.0,
        "expected_generation": 1.0,
        "capacity_kw": 5.0,
    } | fields
    return EnergyForecast.objects.create(substation=substation, **values)


def test_extreme_stored_rows_leave_the_dashboard_strict_json(client, operator):
    """Rows from before the bounds (1e308, forced in): their sums overflow to
    infinity; the dashboard's JSON and page carry null instead."""
    now = timezone.now()
    bucket = now - timedelta(minutes=20)
    for _ in range(2):
        site = make_substation()
        make_reading(site, load_kw=1e308)
        DispatchRun.objects.create(
            substation=site,
            slot_at=now,
            started_at=now,
            outcome=Outcome.DISPATCHED,
            load_kw=1e308,
            requirement_kw=1e308,
            imbalance_kw=1e308,
        )
        make_forecast(site, bucket, solar_kw=1e308, actual_solar_kw=1e308)
    client.force_login(operator)
    response = client.get("/dashboard.json")
    assert response.status_code == 200
    data = strict_json(response.content)
    assert data["fleet"]["imbalance_kw"] is None  # 1e308 + 1e308
    assert data["forecast"]["solar_kw"] == [None]
    assert data["substations"][0]["reading"]["load_kw"] == 1e308  # finite: shown
    page = client.get("/").content.decode()
    initial = page.split('<script id="initial" type="application/json">')[1]
    strict_json(initial.split("</script>")[0])


def test_the_energy_forecasts_answer_with_1e308_pv_telemetry_stored(operator):
    """A row counts at most what its asset can give: 1e308 kW twice summed to
    an infinite actual, and the list answered 500."""
    substation = make_substation()
    bucket = timezone.now().replace(minute=0, second=0, microsecond=0)
    make_forecast(substation, bucket)
    for i in range(2):
        pv = make_pv(substation, f"pv-{i}")
        AssetTelemetry.objects.bulk_create(
            AssetTelemetry(
                asset=pv, measured_at=bucket + timedelta(minutes=m), output_kw=kw
            )
            for m, kw in [(1, 1e308), (2, 1e308), (3, 2.0)]
        )
    actuals_record(substation=substation, since=bucket, until=bucket + BUCKET)
    response = session(operator).get("/api/v1/energy-forecasts/")
    assert response.status_code == 200
    (row,) = strict_json(response.content)["results"]
    # Each 1e308 counts as the most a 5 kWp array can give (1.5 x 5 + 10 kW).
    each_pv = (17.5 + 17.5 + 2.0) / 3
    assert row["actual_solar_kw"] == row["actual_kw"] == pytest.approx(2 * each_pv)


def test_an_infinite_stored_figure_is_null_in_the_api(operator):
    """A row stored infinite before the fix answers 200 with null, not 500."""
    substation = make_substation()
    make_forecast(
        substation, timezone.now(), actual_kw=math.inf, actual_solar_kw=math.inf
    )
    response = session(operator).get("/api/v1/energy-forecasts/")
    assert response.status_code == 200
    (row,) = strict_json(response.content)["results"]
    assert (row["actual_kw"], row["actual_solar_kw"], row["expected_generation"]) == (
        None,
        None,
        1.0,
    )
