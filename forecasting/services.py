"""Writes to forecasting: storing weather forecasts."""

from __future__ import annotations

from collections.abc import Sequence

from forecasting.models import WeatherForecast

FORECAST_VALUES = [
    "ghi_w_m2",
    "dni_w_m2",
    "dhi_w_m2",
    "air_temperature_c",
    "wind_speed_m_s",
    "wind_speed_height_m",
    "cloud_cover_pct",
]


def weather_forecasts_store(*, forecasts: Sequence[WeatherForecast]) -> int:
    """Upsert forecasts on (substation, provider, issued_at, valid_at) in one statement.

    Fetching the same forecast twice updates the stored values instead of
    duplicating rows. Returns the number of rows given.
    """
    WeatherForecast.objects.bulk_create(
        forecasts,
        update_conflicts=True,
        unique_fields=["substation", "provider", "issued_at", "valid_at"],
        update_fields=[*FORECAST_VALUES, "fetched_at"],
        batch_size=2000,
    )
    return len(forecasts)
