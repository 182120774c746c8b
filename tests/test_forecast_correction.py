"""Correction from actuals (step 15): a biased forecast learns its bias."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from assets.models import AssetKind, AssetTelemetry, DERAsset
from forecasting.models import EnergyForecast
from forecasting.services import (
    BUCKET,
    accuracy_compute,
    actuals_record,
    correction_ratios,
    forecast_predict,
)
from tests.test_forecast_predict import make_site, make_weather

pytestmark = pytest.mark.django_db

DAY_START = datetime(2026, 6, 21, 6, 0, tzinfo=UTC)  # local midnight (MDT)


def report_actuals(substation, bucket: datetime, *, share: float) -> None:
    """Telemetry for `bucket`: each asset gives `share` of the raw forecast."""
    row = EnergyForecast.objects.filter(substation=substation, valid_at=bucket).latest(
        "issued_at"
    )
    raw = {AssetKind.PV: row.solar_raw_kw, AssetKind.WIND: row.wind_raw_kw}
    AssetTelemetry.objects.bulk_create(
        AssetTelemetry(
            asset=asset,
            measured_at=bucket + timedelta(minutes=7),
            output_kw=share * raw[asset.kind],
        )
        for asset in DERAsset.objects.filter(substation=substation)
    )
    actuals_record(substation=substation, since=bucket, until=bucket + BUCKET)


def test_a_forecast_20_percent_too_high_is_corrected_within_a_day():
    substation = make_site()
    errors = {"raw": [], "corrected": []}
    for step in range(4 * 30):  # a day, then six more hours measured
        now = DAY_START + step * BUCKET
        make_weather(substation, now)
        (first, *_) = forecast_predict(substation=substation, now=now)
        report_actuals(substation, now, share=0.8)
        if step >= 4 * 24:
            first.refresh_from_db()
            errors["raw"].append(
                abs(first.solar_raw_kw + first.wind_raw_kw - first.actual_kw)
            )
            errors["corrected"].append(abs(first.expected_generation - first.actual_kw))
    raw_mae, corrected_mae = np.mean(errors["raw"]), np.mean(errors["corrected"])
    assert raw_mae > 1.0
    assert corrected_mae <= 0.5 * raw_mae
    solar, wind = correction_ratios(substation=substation, now=now)
    assert solar == pytest.approx(0.8, abs=0.02)
    assert wind == pytest.approx(0.8, abs=0.02)
    # The day's stored accuracy shows it: at every horizon, over-forecast (bias
    # > 0) and the corrected forecast better than the raw model.
    day = accuracy_compute(substation=substation, day=DAY_START.date())
    assert len(day) == 16
    assert all(row.bias_kw > 0 and row.mae_kw < row.raw_mae_kw for row in day)


def test_without_actuals_nothing_is_corrected():
    substation = make_site()
    make_weather(substation, DAY_START)
    rows = forecast_predict(substation=substation, now=DAY_START)
    assert correction_ratios(substation=substation, now=DAY_START) == (1.0, 1.0)
    assert all(row.solar_kw == row.solar_raw_kw for row in rows)


def test_the_correction_is_bounded():
    substation = make_site()
    for step in range(8):
        now = DAY_START + timedelta(hours=12) + step * BUCKET
        make_weather(substation, now)
        forecast_predict(substation=substation, now=now)
        report_actuals(substation, now, share=5.0)  # wildly above the forecast
    solar, wind = correction_ratios(substation=substation, now=now + BUCKET * 2)
    assert (solar, wind) == (1.5, 1.5)
