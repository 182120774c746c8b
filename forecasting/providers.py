"""Weather providers behind one seam (step 11): `weather_fetch` returns unsaved
`WeatherForecast` rows for a substation, or raises `ProviderError`.

- `open-meteo`: an HTTP client for the Open-Meteo forecast API format
  (OPEN_METEO_BASE_URL; tests serve recorded JSON from 127.0.0.1);
- `simulator`: the demo simulator's clear-sky-with-clouds weather.
Forecasts produced elsewhere are pushed through `weather_forecasts_store`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import requests
from django.conf import settings

from forecasting.models import WeatherForecast
from grid.models import Substation

HORIZON_STEPS = 24  # six hours of quarter-hours: the 4-hour window and margin
OPEN_METEO_FIELDS = {
    "shortwave_radiation": "ghi_w_m2",
    "direct_normal_irradiance": "dni_w_m2",
    "diffuse_radiation": "dhi_w_m2",
    "temperature_2m": "air_temperature_c",
    "wind_speed_10m": "wind_speed_m_s",
}


class ProviderError(Exception):
    """The provider is down or answered garbage; nothing is stored."""


def quarter_hour(at: datetime) -> datetime:
    step = 900
    return datetime.fromtimestamp(at.timestamp() // step * step, tz=UTC)


def open_meteo(*, substation: Substation, now: datetime) -> list[WeatherForecast]:
    """15-minute forecast from an Open-Meteo-format API (wind at 10 m, in m/s)."""
    params = {
        "latitude": substation.latitude,
        "longitude": substation.longitude,
        "minutely_15": ",".join(OPEN_METEO_FIELDS),
        "forecast_minutely_15": HORIZON_STEPS + 4,
        "wind_speed_unit": "ms",
        "timezone": "UTC",
        "timeformat": "unixtime",
    }
    try:
        response = requests.get(
            settings.OPEN_METEO_BASE_URL,
            params=params,
            timeout=settings.WEATHER_TIMEOUT_S,
        )
        response.raise_for_status()
        series = response.json()["minutely_15"]
        times = [datetime.fromtimestamp(int(t), tz=UTC) for t in series["time"]]
        columns = {
            ours: [float_or_none(v) for v in series[theirs]]
            for theirs, ours in OPEN_METEO_FIELDS.items()
        }
    except (requests.RequestException, ValueError, KeyError, TypeError) as error:
        raise ProviderError(f"open-meteo: {type(error).__name__}: {error}") from error
    if not times or any(len(values) != len(times) for values in columns.values()):
        raise ProviderError("open-meteo: series of different lengths")
    issued_at = quarter_hour(now)
    rows = []
    for i, valid_at in enumerate(times):
        values = {name: column[i] for name, column in columns.items()}
        if values["ghi_w_m2"] is None or values["air_temperature_c"] is None:
            continue  # a gap: interpolation covers it
        if values["wind_speed_m_s"] is None:
            continue
        rows.append(
            WeatherForecast(
                substation=substation,
                provider="open-meteo",
                issued_at=issued_at,
                valid_at=valid_at,
                wind_speed_height_m=10.0,
                **values,
            )
        )
    for row in rows:
        try:
            row.full_clean(exclude=["substation"], validate_unique=False)
        except Exception as error:
            raise ProviderError(f"open-meteo: implausible values: {error}") from error
    if not rows:
        raise ProviderError("open-meteo: no usable values")
    return rows


def float_or_none(value) -> float | None:
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"not a number: {value!r}")
    return number


def simulator(*, substation: Substation, now: datetime) -> list[WeatherForecast]:
    """The demo simulator's forecast for this substation."""
    from dermgmt.simulator import simulated_weather  # the demo's plumbing

    return simulated_weather(substation=substation, issued_at=quarter_hour(now))


PROVIDERS = {"open-meteo": open_meteo, "simulator": simulator}


def weather_fetch(*, substation: Substation, now: datetime) -> list[WeatherForecast]:
    """From the provider configured in WEATHER_PROVIDER."""
    return PROVIDERS[settings.WEATHER_PROVIDER](substation=substation, now=now)
