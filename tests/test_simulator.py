"""The demo simulator writes plausible, idempotent data through the services."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from assets.models import AssetKind, AssetTelemetry, DERAsset
from dermgmt.simulator import TELEMETRY_SLICES, simulate
from forecasting.models import WeatherForecast
from grid.models import GridReading, Substation

pytestmark = pytest.mark.django_db

DENVER_NOON = datetime(2026, 6, 21, 19, 0, tzinfo=UTC)
DENVER_MIDNIGHT = datetime(2026, 6, 21, 6, 0, tzinfo=UTC)
FIVE_S = timedelta(seconds=5)


@pytest.fixture
def demo():
    call_command("demo", stdout=io.StringIO())


def run_ticks(start: datetime, ticks: int) -> None:
    rng = random.Random(7)
    for i in range(ticks):
        simulate(now=start + i * FIVE_S, period_s=5, rng=rng)


def test_a_tick_writes_readings_telemetry_and_weather(demo):
    result = simulate(now=DENVER_NOON, period_s=5, rng=random.Random(1))
    assert result["readings"] == Substation.objects.count()
    assert result["telemetry"] > 0
    assert result["weather"] > 0
    assert WeatherForecast.objects.filter(valid_at__gt=DENVER_NOON).count() >= 3 * 16


def test_running_a_tick_twice_duplicates_nothing(demo):
    simulate(now=DENVER_NOON, period_s=5, rng=random.Random(1))
    before = (
        GridReading.objects.count(),
        AssetTelemetry.objects.count(),
        WeatherForecast.objects.count(),
    )
    simulate(now=DENVER_NOON, period_s=5, rng=random.Random(2))
    after = (
        GridReading.objects.count(),
        AssetTelemetry.objects.count(),
        WeatherForecast.objects.count(),
    )
    assert after == before


def test_every_asset_reports_within_a_round_of_slices(demo):
    run_ticks(DENVER_NOON, TELEMETRY_SLICES)
    reporting = DERAsset.objects.exclude(kind=AssetKind.FLEXIBLE_LOAD)
    assert not reporting.filter(last_telemetry_at__isnull=True).exists()


def test_readings_stay_physically_plausible(demo):
    run_ticks(DENVER_NOON, 60)
    frequencies = list(GridReading.objects.values_list("frequency_hz", flat=True))
    voltages = list(GridReading.objects.values_list("voltage_pu", flat=True))
    assert all(57.0 <= f <= 63.0 for f in frequencies)
    assert all(0.9 <= v <= 1.1 for v in voltages)
    assert max(abs(f - 60.0) for f in frequencies) > 0.0  # it moves


def test_pv_follows_the_sun(demo):
    run_ticks(DENVER_NOON, TELEMETRY_SLICES)
    noon = AssetTelemetry.objects.filter(asset__kind=AssetKind.PV)
    assert min(noon.values_list("output_kw", flat=True)) > 0
    AssetTelemetry.objects.all().delete()
    run_ticks(DENVER_MIDNIGHT, TELEMETRY_SLICES)
    night = AssetTelemetry.objects.filter(asset__kind=AssetKind.PV)
    assert set(night.values_list("output_kw", flat=True)) == {0.0}


def test_a_discharging_battery_loses_charge(demo):
    battery = DERAsset.objects.filter(kind=AssetKind.BATTERY).order_by("pk").first()
    DERAsset.objects.filter(pk=battery.pk).update(
        target_output_kw=battery.max_discharge_power, state_of_charge=80.0
    )
    run_ticks(DENVER_MIDNIGHT, TELEMETRY_SLICES * 3)
    battery.refresh_from_db()
    assert battery.state_of_charge < 80.0


def test_the_evening_peak_goes_past_import_capacity(demo):
    evening = datetime(2026, 1, 15, 2, 0, tzinfo=UTC)  # 19:00 in Denver
    simulate(now=evening, period_s=5, rng=random.Random(3))
    over = [
        r.load_kw > r.substation.import_capacity_kw
        for r in GridReading.objects.select_related("substation")
    ]
    assert all(over)
