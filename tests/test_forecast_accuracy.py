"""Forecast accuracy per substation, local day and horizon, against numbers
worked out by hand."""

from __future__ import annotations

import io
import math
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command

from forecasting.models import EnergyForecast, ForecastAccuracy
from forecasting.selectors import accuracy_of_day
from forecasting.services import BUCKET, BUCKETS, accuracy_compute, accuracy_due
from tests.conftest import make_substation

pytestmark = pytest.mark.django_db

DAY = date(2026, 6, 21)
START = datetime(2026, 6, 21, 6, 0, tzinfo=UTC)  # local midnight in Denver (MDT)
DAY_BUCKETS = 96
CAPACITY_KW = 100.0


def actual_kw(k: int) -> float:
    """Measured output of bucket k (counted from START): 40, 60, 40, 60, ..."""
    return 40.0 if k % 2 == 0 else 60.0


def forecast_kw(k: int, horizon: int) -> float:
    """5 kW over at horizon 0, 10 kW under at every later horizon."""
    return actual_kw(k) + (5.0 if horizon == 0 else -10.0)


def store_day(substation) -> None:
    """Every issue whose buckets touch the day, each bucket with its actual."""
    EnergyForecast.objects.bulk_create(
        EnergyForecast(
            substation=substation,
            issued_at=START + issue * BUCKET,
            valid_at=START + (issue + horizon) * BUCKET,
            model_version="test",
            solar_raw_kw=forecast_kw(issue + horizon, horizon) + 1.0,
            wind_raw_kw=0.0,
            solar_kw=forecast_kw(issue + horizon, horizon),
            wind_kw=0.0,
            expected_generation=forecast_kw(issue + horizon, horizon),
            capacity_kw=CAPACITY_KW,
            actual_kw=actual_kw(issue + horizon),
        )
        for issue in range(-BUCKETS, DAY_BUCKETS + 1)
        for horizon in range(BUCKETS)
    )


@pytest.fixture
def substation():
    site = make_substation()  # America/Denver
    store_day(site)
    return site


def test_it_measures_each_horizon_against_the_hand_computed_figures(substation):
    rows = {
        row.horizon_min: row for row in accuracy_compute(substation=substation, day=DAY)
    }
    assert sorted(rows) == [15 * h for h in range(BUCKETS)]
    now = rows[0]
    assert now.samples == DAY_BUCKETS  # the local day's 96 buckets, no more
    assert (now.mae_kw, now.rmse_kw, now.bias_kw) == (5.0, 5.0, 5.0)
    assert now.nmae == now.nrmse == pytest.approx(0.05)
    assert now.raw_mae_kw == pytest.approx(6.0)
    # Persistence of bucket k issued at k: the actual of k - 1, always 20 kW off.
    assert now.persistence_rmse_kw == 20.0
    assert now.skill == pytest.approx(1 - 5 / 20)
    later = rows[30]  # two buckets later: persistence (k - 3) is 20 kW off
    assert (later.mae_kw, later.bias_kw) == (10.0, -10.0)
    assert later.skill == pytest.approx(1 - 10 / 20)
    even = rows[15]  # persistence (k - 2) is exact: skill is undefined, not -inf
    assert even.persistence_rmse_kw == 0.0
    assert even.skill is None


def test_the_day_pools_every_horizon(substation):
    accuracy_compute(substation=substation, day=DAY)
    summary = accuracy_of_day(day=DAY, substation_ids=[substation.pk])
    assert summary.samples == 16 * DAY_BUCKETS
    assert summary.mae_kw == pytest.approx((5 + 15 * 10) / 16)
    assert summary.bias_kw == pytest.approx((5 - 15 * 10) / 16)
    rmse = math.sqrt((25 + 15 * 100) / 16)
    assert summary.rmse_kw == pytest.approx(rmse)
    assert summary.nrmse == pytest.approx(rmse / CAPACITY_KW)
    assert summary.skill == pytest.approx(1 - rmse / math.sqrt(8 * 400 / 16))
    assert accuracy_of_day(day=DAY + timedelta(days=1)) is None


def test_computing_a_day_again_replaces_its_rows(substation):
    accuracy_compute(substation=substation, day=DAY)
    EnergyForecast.objects.filter(valid_at__lt=START + BUCKET * 48).update(
        actual_kw=None
    )
    rows = accuracy_compute(substation=substation, day=DAY)
    assert ForecastAccuracy.objects.count() == len(rows) == BUCKETS
    # The first 48 buckets lost their actuals, and bucket 48 its persistence.
    assert ForecastAccuracy.objects.get(horizon_min=0).samples == DAY_BUCKETS - 49


def test_a_substation_without_forecasts_stores_nothing():
    site = make_substation()
    assert accuracy_compute(substation=site, day=DAY) == []
    assert not ForecastAccuracy.objects.exists()


def test_beat_computes_yesterday_once_after_the_grace_period(substation):
    before = START + timedelta(days=1, minutes=30)  # 00:30 on the 22nd, local
    assert accuracy_due(now=before) == 1  # the 20th: nothing stored, nothing to show
    assert not ForecastAccuracy.objects.filter(day=DAY).exists()
    after = START + timedelta(days=1, hours=1, minutes=5)
    assert accuracy_due(now=after) == 1
    assert ForecastAccuracy.objects.filter(day=DAY).count() == BUCKETS
    assert accuracy_due(now=after + timedelta(hours=1)) == 0


def test_the_command_computes_and_prints_a_day(substation):
    out = io.StringIO()
    call_command("forecast_accuracy", "--date", "2026-06-21", stdout=out)
    assert f"{substation.code} 2026-06-21: 16 horizons" in out.getvalue()
    assert "+  0 min  n= 96  nMAE   5.0%" in out.getvalue()


def test_operators_read_accuracy_in_the_admin(client, operator, substation):
    accuracy_compute(substation=substation, day=DAY)
    client.force_login(operator)
    page = client.get("/admin/forecasting/forecastaccuracy/")
    assert page.status_code == 200
    assert "+225 min" in page.text
    assert "75.0%" in page.text  # skill at horizon 0
