"""Ingest batches (issue 17, items 8 and 9): two items for one sensor, asset or
forecast at one time that disagree refuse the batch, naming both; a timestamp
older than the ingest's bound (INGEST_MAX_AGE_S, 7 days by default) is a clock
or unit mistake and is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone

from assets.models import AssetTelemetry
from forecasting.models import WeatherForecast
from grid.models import GridReading
from tests.conftest import make_battery, make_owner, make_sensor, make_substation
from tests.test_api import forecasts, reading_item, session, telemetry_item

pytestmark = pytest.mark.django_db

READINGS = "/api/v1/grid-readings/"
TELEMETRY = "/api/v1/telemetry/"
WEATHER = "/api/v1/weather-forecasts/"


@pytest.fixture(autouse=True)
def no_throttle_carry_over():
    """Throttle counters live in the cache: each test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def sensor():
    return make_sensor(make_substation())


@pytest.fixture
def battery():
    return make_battery(make_substation(), make_owner())


def errors_of(response) -> dict[str, dict[str, str]]:
    """The per-item errors of a refused batch."""
    assert response.status_code == 400, response.content
    body = response.json()
    assert "nothing was stored" in body["detail"]
    return body["errors"]


def conflict(response, first: int, second: int, field: str) -> None:
    """The batch is refused for exactly these two items, each naming the other."""
    errors = errors_of(response)
    assert {i: list(e) for i, e in errors.items()} == {
        str(first): [field],
        str(second): [field],
    }
    assert f"item {second}" in errors[str(first)][field]
    assert f"item {first}" in errors[str(second)][field]


# --- Conflicting duplicates ------------------------------------------------------


def test_two_readings_of_one_sensor_and_time_that_disagree_are_refused(
    operator, sensor
):
    """Same sensor and instant (written with another UTC offset), another
    load: which one is true cannot be told, so nothing is stored."""
    now = timezone.now().replace(microsecond=0)
    same_instant = (now + timedelta(hours=1)).isoformat().replace("+00:00", "+01:00")
    batch = [
        reading_item(sensor, now, load_kw=400.0),
        reading_item(sensor, now - timedelta(seconds=1)),
        reading_item(sensor, now, load_kw=401.0) | {"measured_at": same_instant},
    ]
    response = session(operator).post(READINGS, batch, format="json")
    conflict(response, 0, 2, "measured_at")
    assert not GridReading.objects.exists()


def test_an_exact_repeat_of_a_reading_in_one_batch_is_stored_once(operator, sensor):
    """The same values again are a retry, not a conflict: accepted, kept once."""
    item = reading_item(sensor, timezone.now())
    response = session(operator).post(READINGS, [item, item], format="json")
    assert (response.status_code, response.json()) == (201, {"received": 2})
    assert GridReading.objects.count() == 1


def test_two_telemetry_rows_of_one_asset_and_time_that_disagree_are_refused(
    operator, battery
):
    """Same asset and instant, another state of charge: refused, naming both."""
    now = timezone.now()
    batch = [
        telemetry_item(battery, now),
        telemetry_item(battery, now - timedelta(seconds=5)),
        telemetry_item(battery, now - timedelta(seconds=5)),  # a retry: fine
        telemetry_item(battery, now, state_of_charge=12.0),
    ]
    response = session(operator).post(TELEMETRY, batch, format="json")
    conflict(response, 0, 3, "measured_at")
    assert not AssetTelemetry.objects.exists()


def test_two_pushed_forecasts_of_one_issue_and_valid_time_that_disagree_are_refused(
    operator,
):
    """Same substation, provider, issue and valid time, another irradiance: the
    push is refused naming both, instead of the last copy silently winning."""
    pushed = forecasts(make_substation())
    batch = [*pushed, pushed[0] | {"ghi_w_m2": 900.0}, pushed[1]]
    response = session(operator).post(WEATHER, batch, format="json")
    conflict(response, 0, 2, "valid_at")
    assert not WeatherForecast.objects.exists()


# --- Timestamps older than the bound ---------------------------------------------

OLD = {
    "year 1": "0001-01-01T00:00:00+00:00",
    "year 1900": "1900-01-01T00:00:00Z",
    "8 days ago": None,  # computed: just past the default bound
}


def old(value: str | None) -> str:
    return value or (timezone.now() - timedelta(days=8)).isoformat()


def assert_names_the_bound(message: str) -> None:
    assert "7 days (INGEST_MAX_AGE_S = 604800 s)" in message, message


@pytest.mark.parametrize("value", OLD.values(), ids=OLD)
def test_a_reading_older_than_the_ingest_bound_is_refused(operator, sensor, value):
    """A reading of year 1, 1900 or last week is a clock or unit mistake."""
    batch = [
        reading_item(sensor, timezone.now()),
        reading_item(sensor, timezone.now()) | {"measured_at": old(value)},
    ]
    errors = errors_of(session(operator).post(READINGS, batch, format="json"))
    assert list(errors) == ["1"]
    assert_names_the_bound(errors["1"]["measured_at"])
    assert not GridReading.objects.exists()


@pytest.mark.parametrize("value", OLD.values(), ids=OLD)
def test_telemetry_older_than_the_ingest_bound_is_refused(operator, battery, value):
    """Telemetry of year 1, 1900 or last week is refused the same way."""
    batch = [telemetry_item(battery, timezone.now()) | {"measured_at": old(value)}]
    errors = errors_of(session(operator).post(TELEMETRY, batch, format="json"))
    assert list(errors) == ["0"]
    assert_names_the_bound(errors["0"]["measured_at"])
    assert not AssetTelemetry.objects.exists()


@pytest.mark.parametrize("field", ["issued_at", "valid_at"])
@pytest.mark.parametrize("value", OLD.values(), ids=OLD)
def test_a_pushed_forecast_older_than_the_ingest_bound_is_refused(
    operator, field, value
):
    """A forecast issued, or valid, before the bound is no forecast to keep."""
    pushed = forecasts(make_substation())
    pushed[1][field] = old(value)
    errors = errors_of(session(operator).post(WEATHER, pushed, format="json"))
    assert list(errors) == ["1"]
    assert_names_the_bound(errors["1"][field])
    assert not WeatherForecast.objects.exists()


def test_a_pushed_forecast_issued_in_the_future_is_refused(operator):
    """An issue time ahead of our clock would outrank every real forecast as the
    newest in force: refused like a reading from the future."""
    pushed = forecasts(make_substation())
    pushed[0]["issued_at"] = (timezone.now() + timedelta(days=1)).isoformat()
    errors = errors_of(session(operator).post(WEATHER, pushed, format="json"))
    assert list(errors) == ["0"]
    assert "future" in errors["0"]["issued_at"]
    assert not WeatherForecast.objects.exists()


def test_data_just_inside_the_ingest_bound_is_accepted(operator, sensor, battery):
    """Six days and 23 hours old is within the default 7 days."""
    at = timezone.now() - timedelta(days=7) + timedelta(hours=1)
    api = session(operator)
    readings = api.post(READINGS, [reading_item(sensor, at)], format="json")
    telemetry = api.post(TELEMETRY, [telemetry_item(battery, at)], format="json")
    assert (readings.status_code, telemetry.status_code) == (201, 201)


def test_the_ingest_bound_is_a_setting(operator, sensor):
    """A backfill raises INGEST_MAX_AGE_S; a stricter site lowers it."""
    api = session(operator)
    week_old = reading_item(sensor, timezone.now() - timedelta(days=8))
    with override_settings(INGEST_MAX_AGE_S=30 * 86400):
        assert api.post(READINGS, [week_old], format="json").status_code == 201
    two_hours = reading_item(sensor, timezone.now() - timedelta(hours=2))
    with override_settings(INGEST_MAX_AGE_S=3600):
        errors = errors_of(api.post(READINGS, [two_hours], format="json"))
    assert "1 hour (INGEST_MAX_AGE_S = 3600 s)" in errors["0"]["measured_at"]
    assert GridReading.objects.count() == 1
