"""Demo simulator: plausible grid readings, asset telemetry and weather forecasts.

On in the demo (DERMGMT_SIMULATOR, default on in development), off in production.
It writes through the same services an integration's data goes through, so every
step of the workflow gets exercised within minutes of `make run`:

- frequency: a mean-reverting random walk around nominal with occasional dips
  of 0.15-0.4 Hz (under-frequency events that trigger droop response);
- load: a daily profile in the substation's local time whose evening peak goes
  past the substation's import capacity (so the fleet must discharge);
- voltage: falls with load, with rare swells outside ANSI C84.1 Range B;
- telemetry: PV following the sun, wind following a wind-speed walk, battery
  state of charge following its setpoint, rare hardware errors (some critical);
- weather: a 6-hour forecast in 15-minute steps, issued every 15 minutes.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pvlib
from django.db.models import F, OuterRef, Subquery

from assets.models import (
    AssetKind,
    AssetStatus,
    AssetTelemetry,
    DERAsset,
    HardwareErrorCode,
)
from assets.services import telemetry_record
from forecasting.models import WeatherForecast
from forecasting.services import weather_forecasts_store
from grid.models import GridReading, GridSensor, Substation
from grid.services import readings_record
from incidents.rules import RANGE_B_PU

PROVIDER = "simulator"
TELEMETRY_SLICES = 6  # each asset reports every 6th tick (30 s at a 5 s tick)
ERROR_PROBABILITY = 2e-4  # per telemetry row
DIP_PROBABILITY = 1 / 120  # per tick: an under-frequency event every ~10 minutes
SWELL_PROBABILITY = 1 / 720  # per tick: a voltage swell every ~hour
FORECAST_STEP = timedelta(minutes=15)
FORECAST_HORIZON = timedelta(hours=6)


@dataclass(frozen=True)
class Tick:
    at: datetime
    number: int
    period_s: float


def tick_at(now: datetime, period_s: float) -> Tick:
    """The tick `now` falls in; rows are keyed by it, so a re-run is a no-op."""
    number = int(now.timestamp() // period_s)
    at = datetime.fromtimestamp(number * period_s, tz=now.tzinfo)
    return Tick(at=at, number=number, period_s=period_s)


def clear_sky_ghi(*, latitude: float, longitude: float, times: pd.DatetimeIndex):
    """Clear-sky global horizontal irradiance (W/m²), Haurwitz model via pvlib."""
    position = pvlib.solarposition.get_solarposition(times, latitude, longitude)
    return pvlib.clearsky.haurwitz(position["apparent_zenith"])["ghi"].to_numpy()


def load_profile(local_hour: float) -> float:
    """Share of peak load at a local hour: night trough, morning and evening peaks."""
    morning = math.exp(-(((local_hour - 8.0) / 1.5) ** 2))
    evening = math.exp(-(((local_hour - 19.0) / 2.0) ** 2))
    return 0.55 + 0.22 * morning + 0.45 * evening


def next_reading(
    *, substation: Substation, sensor: GridSensor, previous, tick: Tick, rng
) -> GridReading:
    nominal = substation.nominal_frequency_hz
    frequency = previous[0] if previous else nominal
    frequency = nominal + 0.85 * (frequency - nominal) + rng.gauss(0, 0.006)
    if rng.random() < DIP_PROBABILITY:
        frequency = nominal - rng.uniform(0.15, 0.4)
    local_hour = tick.at.astimezone(substation.zone).hour + (tick.at.minute / 60)
    peak_kw = substation.import_capacity_kw * 1.08
    load = peak_kw * load_profile(local_hour) * (1 + rng.gauss(0, 0.01))
    voltage = 1.035 - 0.06 * load / peak_kw + rng.gauss(0, 0.002)
    in_swell = previous is not None and previous[1] > RANGE_B_PU[1]
    if (in_swell and rng.random() < 0.9) or rng.random() < SWELL_PROBABILITY:
        voltage = rng.uniform(1.062, 1.075)
    return GridReading(
        substation=substation,
        sensor=sensor,
        measured_at=tick.at,
        frequency_hz=round(min(max(frequency, nominal - 3), nominal + 3), 4),
        voltage_pu=round(voltage, 4),
        voltage_v=round(voltage * substation.nominal_voltage_v, 1),
        load_kw=round(max(load, 0.0), 1),
    )


def simulate_readings(*, tick: Tick, rng) -> int:
    latest = GridReading.objects.filter(sensor=OuterRef("pk")).order_by("-measured_at")
    sensors = (
        GridSensor.objects.filter(is_active=True)
        .select_related("substation")
        .annotate(
            previous_frequency=Subquery(latest.values("frequency_hz")[:1]),
            previous_voltage=Subquery(latest.values("voltage_pu")[:1]),
        )
    )
    readings = [
        next_reading(
            substation=sensor.substation,
            sensor=sensor,
            previous=(sensor.previous_frequency, sensor.previous_voltage)
            if sensor.previous_frequency is not None
            else None,
            tick=tick,
            rng=rng,
        )
        for sensor in sensors
    ]
    return readings_record(readings=readings)


def wind_power_share(speed_m_s: float) -> float:
    """Generic turbine curve: cut-in 3 m/s, rated at 12 m/s, cut-out 25 m/s."""
    if speed_m_s < 3.0 or speed_m_s >= 25.0:
        return 0.0
    return min(1.0, ((speed_m_s - 3.0) / 9.0) ** 3)


def simulate_telemetry(*, tick: Tick, rng) -> int:
    """Telemetry for one slice of the fleet (each asset reports every few ticks)."""
    slice_index = tick.number % TELEMETRY_SLICES
    interval_h = tick.period_s * TELEMETRY_SLICES / 3600
    assets = list(
        DERAsset.objects.exclude(status=AssetStatus.DECOMMISSIONED)
        .exclude(kind=AssetKind.FLEXIBLE_LOAD)
        .annotate(slice=F("pk") % TELEMETRY_SLICES)
        .filter(slice=slice_index)
        .values_list(
            "pk",
            "kind",
            "status",
            "substation_id",
            "state_of_charge",
            "energy_capacity_kwh",
            "target_output_kw",
            "max_charge_power_kw",
            "pv_dc_kwp",
            "pv_ac_limit_kw",
            "wind_rated_kw",
        )
    )
    if not assets:
        return 0
    sun = sun_share_by_substation(at=tick.at)
    wind = wind_speed_by_substation(at=tick.at)
    error_codes = list(HardwareErrorCode.objects.values_list("pk", flat=True))
    rows = []
    for (
        pk,
        kind,
        status,
        substation_id,
        soc,
        capacity,
        target,
        charge_kw,
        dc_kwp,
        ac_kw,
        rated_kw,
    ) in assets:
        working = status == AssetStatus.ACTIVE
        output, new_soc = 0.0, None
        if kind == AssetKind.BATTERY:
            output = target if working else 0.0
            if output == 0.0 and soc < 90.0 and sun.get(substation_id, 0.0) > 0.2:
                output = -0.3 * charge_kw  # recharge from midday sun
            if capacity:
                new_soc = min(
                    100.0, max(0.0, soc - output * interval_h / capacity * 100)
                )
            else:
                new_soc = soc
        elif kind == AssetKind.PV and working:
            output = (dc_kwp or 0.0) * 0.85 * sun.get(substation_id, 0.0)
            output = min(output, ac_kw or output) * rng.uniform(0.95, 1.0)
        elif kind == AssetKind.WIND and working:
            output = (rated_kw or 0.0) * wind_power_share(wind.get(substation_id, 0.0))
        elif kind == AssetKind.EV and working:
            output = -7.2 if rng.random() < 0.3 else 0.0
        error = (
            rng.choice(error_codes)
            if error_codes and rng.random() < ERROR_PROBABILITY
            else None
        )
        rows.append(
            AssetTelemetry(
                asset_id=pk,
                measured_at=tick.at,
                output_kw=round(output, 3),
                state_of_charge=None if new_soc is None else round(new_soc, 3),
                error_code_id=error,
            )
        )
    return telemetry_record(telemetry=rows)


def sun_share_by_substation(*, at: datetime) -> dict[int, float]:
    """Clear-sky irradiance now as a share of 1000 W/m², per substation."""
    times = pd.DatetimeIndex([at])
    return {
        pk: float(clear_sky_ghi(latitude=lat, longitude=lon, times=times)[0]) / 1000
        for pk, lat, lon in Substation.objects.values_list(
            "pk", "latitude", "longitude"
        )
    }


def wind_speed_by_substation(*, at: datetime) -> dict[int, float]:
    """A smooth, repeatable wind speed at hub height (m/s) per substation."""
    hours = at.timestamp() / 3600
    return {
        pk: max(
            0.0,
            7.0
            + 3.5 * math.sin(hours / 5.0 + pk)
            + 1.5 * math.sin(hours * 1.7 + 2 * pk),
        )
        for pk in Substation.objects.values_list("pk", flat=True)
    }


def simulate_weather(*, now: datetime, rng) -> int:
    """Issue a 6-hour forecast per substation once per 15 minutes."""
    issued_at = datetime.fromtimestamp(
        now.timestamp()
        // FORECAST_STEP.total_seconds()
        * FORECAST_STEP.total_seconds(),
        tz=now.tzinfo,
    )
    if WeatherForecast.objects.filter(provider=PROVIDER, issued_at=issued_at).exists():
        return 0
    forecasts = []
    for substation in Substation.objects.all():
        forecasts += simulated_weather(
            substation=substation, issued_at=issued_at, rng=rng
        )
    return weather_forecasts_store(forecasts=forecasts)


def simulated_weather(
    *, substation: Substation, issued_at: datetime, rng=None
) -> list[WeatherForecast]:
    """A 6-hour forecast for one substation: clear sky dimmed by drifting clouds,
    a daily temperature swing, the substation's smooth wind (unsaved rows)."""
    rng = rng or random.Random(f"{substation.pk}:{issued_at.isoformat()}")
    steps = int(FORECAST_HORIZON / FORECAST_STEP)
    times = pd.date_range(issued_at, periods=steps + 1, freq=FORECAST_STEP)
    ghi = clear_sky_ghi(
        latitude=substation.latitude, longitude=substation.longitude, times=times
    )
    cloud = np.clip(
        50 + 40 * np.sin(np.arange(len(times)) / 6 + rng.uniform(0, 6)), 0, 100
    )
    local_hours = times.tz_convert(substation.time_zone).hour.to_numpy()
    temperature = 12 + 8 * np.sin((local_hours - 9) / 24 * 2 * np.pi)
    wind = wind_speed_by_substation(at=issued_at)[substation.pk]
    return [
        WeatherForecast(
            substation=substation,
            provider=PROVIDER,
            issued_at=issued_at,
            valid_at=valid_at.to_pydatetime(),
            ghi_w_m2=round(float(ghi[i] * (1 - 0.75 * (cloud[i] / 100) ** 3)), 1),
            air_temperature_c=round(float(temperature[i]), 1),
            wind_speed_m_s=round(max(0.0, wind * 0.75 + rng.gauss(0, 0.5)), 2),
            wind_speed_height_m=10.0,
            cloud_cover_pct=round(float(cloud[i]), 1),
        )
        for i, valid_at in enumerate(times)
    ]


def simulate(
    *, now: datetime, period_s: float, rng: random.Random | None = None
) -> dict:
    """One simulator tick; running it twice for one tick changes nothing."""
    rng = rng or random.Random()
    tick = tick_at(now, period_s)
    return {
        "readings": simulate_readings(tick=tick, rng=rng),
        "telemetry": simulate_telemetry(tick=tick, rng=rng),
        "weather": simulate_weather(now=now, rng=rng),
    }
