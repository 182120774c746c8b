"""Writes to forecasting: weather forecasts stored, generation predicted."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from assets.models import AssetKind, AssetStatus, AssetTelemetry, DERAsset
from assets.services import RATING_FIELDS, output_limit_kw
from dermgmt.ingest import Checker
from forecasting.models import (
    WEATHER_COLUMNS,
    EnergyForecast,
    ForecastAccuracy,
    WeatherFetch,
    WeatherForecast,
)
from forecasting.providers import ProviderError, quarter_hour, weather_fetch
from forecasting.selectors import weather_in_force
from forecasting.solar import pv_power_kw
from forecasting.wind import wind_power_kw
from grid.models import Substation

logger = logging.getLogger(__name__)

# Assumed where an asset's record leaves them out (docs/forecasting.md).
DEFAULT_TILT_DEG = 20.0
DEFAULT_AZIMUTH_DEG = 180.0
DEFAULT_HUB_HEIGHT_M = 30.0

FORECAST_VALUES = [*WEATHER_COLUMNS, "cloud_cover_pct"]


def weather_forecasts_store(*, forecasts: Sequence[WeatherForecast]) -> int:
    """Upsert forecasts on (substation, provider, issued_at, valid_at) in one statement.

    Fetching the same forecast twice updates the stored values instead of
    duplicating rows; given twice in one batch, the last copy wins (one upsert
    may not touch a row twice on PostgreSQL). Returns the number of rows given.
    """
    latest = {
        (f.substation_id, f.provider, f.issued_at, f.valid_at): f for f in forecasts
    }
    WeatherForecast.objects.bulk_create(
        list(latest.values()),
        update_conflicts=True,
        unique_fields=["substation", "provider", "issued_at", "valid_at"],
        update_fields=[*FORECAST_VALUES, "fetched_at"],
        batch_size=2000,
    )
    return len(forecasts)


# One forecast of a provider for a substation, issue and valid time.
FORECAST_KEY = ["substation_id", "provider", "issued_at", "valid_at"]


def weather_forecasts_push(
    *, forecasts: Sequence[WeatherForecast], now: datetime | None = None
) -> int:
    """Store forecasts an integration pushed (`weather_forecasts_store`), or
    refuse them whole with BatchInvalid, having written nothing, when an issue
    time is ahead of our clock, an issue or valid time is older than the
    ingest's bound (INGEST_MAX_AGE_S, `dermgmt.ingest`), or two forecasts of one
    substation, provider, issue and valid time disagree (an exact repeat is a
    retry, stored once). Our own fetches store without these checks: a
    provider's answer may cover past days."""
    check = Checker(now or timezone.now())
    for check.index, forecast in enumerate(forecasts):
        check.within("issued_at", forecast.issued_at)
        check.within("valid_at", forecast.valid_at, ahead=True)
        check.distinct(
            {
                name: getattr(forecast, name)
                for name in [*FORECAST_KEY, *FORECAST_VALUES]
            },
            key=FORECAST_KEY,
            what="substation, provider, issued_at and valid_at",
        )
    check.done()
    return weather_forecasts_store(forecasts=forecasts)


# --- Expected generation (step 12) -------------------------------------------------

MODEL_VERSION = "pvwatts-oedb-1"
BUCKET = timedelta(minutes=15)
BUCKETS = 16  # four hours


class NoWeather(Exception):
    """No weather forecast covers the window: nothing is predicted."""


def buckets_from(now: datetime) -> pd.DatetimeIndex:
    """The 16 quarter-hour buckets starting with the one `now` falls in."""
    return pd.date_range(quarter_hour(now), periods=BUCKETS, freq=BUCKET)


def weather_at(weather: pd.DataFrame, times: pd.DatetimeIndex) -> pd.DataFrame:
    """Each weather column linearly interpolated at `times` (held at the ends);
    a column the provider never gave (DNI, DHI) stays NaN."""
    known = weather.index.as_unit("ns").asi8  # one unit for both axes
    return pd.DataFrame(
        {
            column: np.interp(times.as_unit("ns").asi8, known[ok], values[ok])
            if (ok := ~np.isnan(values := weather[column].to_numpy())).any()
            else np.full(len(times), np.nan)
            for column in weather.columns
        },
        index=times,
    )


@transaction.atomic
def forecast_predict(
    *, substation: Substation, now: datetime | None = None
) -> list[EnergyForecast]:
    """Expected PV and wind output of a substation's assets in service for the
    next 4 hours in 15-minute buckets, stored (re-running an issue updates it).

    Weather is taken at each bucket's middle from the newest forecast in force;
    raise NoWeather when none covers the window (the last good forecast stays).
    The corrected values are the raw ones times each kind's correction ratio
    from recent actuals (step 15, `correction_ratios`), within the nameplate.
    """
    now = now or timezone.now()
    buckets = buckets_from(now)
    middles = buckets + BUCKET / 2
    weather = weather_in_force(
        substation_id=substation.pk,
        start=buckets[0] - timedelta(hours=1),
        end=buckets[-1] + timedelta(hours=1),
    )
    if weather.empty:
        raise NoWeather(f"no weather forecast for {substation.code} around {now}")
    at = weather_at(weather, middles)
    in_service = DERAsset.objects.filter(
        substation=substation, status=AssetStatus.ACTIVE
    )
    solar, solar_capacity = solar_kw(substation=substation, at=at, assets=in_service)
    wind, wind_capacity = wind_kw(at=at, assets=in_service)
    solar_ratio, wind_ratio = correction_ratios(substation=substation, now=now)
    solar_fixed = np.minimum(solar * solar_ratio, solar_capacity)
    wind_fixed = np.minimum(wind * wind_ratio, wind_capacity)
    rows = [
        EnergyForecast(
            substation=substation,
            issued_at=buckets[0].to_pydatetime(),
            valid_at=valid_at.to_pydatetime(),
            model_version=MODEL_VERSION,
            solar_raw_kw=float(solar[i]),
            wind_raw_kw=float(wind[i]),
            solar_kw=float(solar_fixed[i]),
            wind_kw=float(wind_fixed[i]),
            expected_generation=float(solar_fixed[i] + wind_fixed[i]),
            capacity_kw=solar_capacity + wind_capacity,
        )
        for i, valid_at in enumerate(buckets)
    ]
    EnergyForecast.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["substation", "issued_at", "valid_at"],
        update_fields=[
            "model_version",
            "solar_raw_kw",
            "wind_raw_kw",
            "solar_kw",
            "wind_kw",
            "expected_generation",
            "capacity_kw",
        ],
    )
    return rows


def solar_kw(
    *, substation: Substation, at: pd.DataFrame, assets
) -> tuple[np.ndarray, float]:
    """Sum of every PV array's AC output per bucket, and their AC nameplate."""
    arrays = np.array(
        list(
            assets.filter(kind=AssetKind.PV).values_list(
                "pv_dc_kwp", "pv_tilt_deg", "pv_azimuth_deg", "pv_ac_limit_kw"
            )
        ),
        dtype=float,
    ).reshape(-1, 4)
    if not len(arrays):
        return np.zeros(len(at)), 0.0
    kwp, tilt, azimuth, ac_limit = arrays.T
    tilt = np.where(np.isnan(tilt), DEFAULT_TILT_DEG, tilt)
    azimuth = np.where(np.isnan(azimuth), DEFAULT_AZIMUTH_DEG, azimuth)
    ac = pv_power_kw(
        times=at.index,
        latitude=substation.latitude,
        longitude=substation.longitude,
        ghi_w_m2=at["ghi_w_m2"].to_numpy(),
        dni_w_m2=None if at["dni_w_m2"].isna().any() else at["dni_w_m2"].to_numpy(),
        dhi_w_m2=None if at["dhi_w_m2"].isna().any() else at["dhi_w_m2"].to_numpy(),
        air_temperature_c=at["air_temperature_c"].to_numpy(),
        wind_speed_m_s=at["wind_speed_m_s"].to_numpy(),
        dc_kwp=kwp,
        tilt_deg=tilt,
        azimuth_deg=azimuth,
        ac_limit_kw=ac_limit,
    )
    nameplate = float(np.where(np.isnan(ac_limit), kwp, ac_limit).sum())
    return ac.sum(axis=1), nameplate


def wind_kw(*, at: pd.DataFrame, assets) -> tuple[np.ndarray, float]:
    """Sum of every wind turbine's output per bucket, and their rated power."""
    turbines = list(
        assets.filter(kind=AssetKind.WIND).values_list(
            "wind_rated_kw",
            "wind_hub_height_m",
            "wind_turbine_type",
            "wind_power_curve",
        )
    )
    if not turbines:
        return np.zeros(len(at)), 0.0
    rated, hub, types, curves = zip(*turbines, strict=True)
    power = wind_power_kw(
        wind_speed_m_s=at["wind_speed_m_s"].to_numpy(),
        measured_height_m=float(at["wind_speed_height_m"].iloc[0]),
        hub_height_m=np.array([h or DEFAULT_HUB_HEIGHT_M for h in hub], dtype=float),
        rated_kw=np.array(rated, dtype=float),
        turbine_type=list(types),
        power_curve=list(curves),
    )
    return np.nan_to_num(power).sum(axis=1), float(sum(rated))


# --- Fetch and predict (steps 11, 12), every 15 minutes -------------------------------


def weather_refresh(*, substation: Substation, now: datetime) -> WeatherFetch:
    """Fetch the configured provider's forecast and store it; a provider that is
    down or answers garbage stores nothing (the last good forecast stays) and the
    failure is recorded."""
    provider = settings.WEATHER_PROVIDER
    try:
        rows = weather_fetch(substation=substation, now=now)
    except ProviderError as error:
        logger.error("weather for %s: %s", substation.code, error)
        return WeatherFetch.objects.create(
            substation=substation,
            provider=provider,
            fetched_at=now,
            ok=False,
            error=str(error),
        )
    weather_forecasts_store(forecasts=rows)
    return WeatherFetch.objects.create(
        substation=substation,
        provider=provider,
        fetched_at=now,
        ok=True,
        rows=len(rows),
    )


def forecast_run(
    *, substation: Substation, now: datetime | None = None
) -> tuple[WeatherFetch, list[EnergyForecast]]:
    """Steps 11, 12 and 15 for one substation: fetch the weather, record the
    actuals of the last two hours' finished buckets, predict (corrected), store."""
    now = now or timezone.now()
    fetch = weather_refresh(substation=substation, now=now)
    current = buckets_from(now)[0].to_pydatetime()
    actuals_record(
        substation=substation, since=current - timedelta(hours=2), until=current
    )
    try:
        return fetch, forecast_predict(substation=substation, now=now)
    except NoWeather as error:
        logger.error("%s", error)
        return fetch, []


# --- Correction from actuals (step 15) ----------------------------------------------

CORRECTION_WINDOW = timedelta(hours=24)
CORRECTION_HALF_LIFE_H = 3.0
CORRECTION_BOUNDS = (0.5, 1.5)
# Below this much forecast energy (kWh, weighted) a ratio says nothing: keep 1.
CORRECTION_MIN_KWH = 0.5


def actuals_record(*, substation: Substation, since: datetime, until: datetime) -> int:
    """Mean measured PV and wind output of each finished bucket in [since, until),
    from telemetry, onto every forecast row of that bucket. Returns buckets.

    Each row counts at most what its asset can give (the ingest's plausibility
    bound, `output_limit_kw`), and a NaN not at all: a row stored before that
    bound, or by a door around it, of 1e308 kW summed to an infinite actual,
    which no JSON can carry (issue 16).
    """
    rows = AssetTelemetry.objects.filter(
        asset__substation=substation,
        asset__kind__in=[AssetKind.PV, AssetKind.WIND],
        measured_at__gte=since,
        measured_at__lt=until,
    ).values_list(
        "asset_id",
        "asset__kind",
        "measured_at",
        "output_kw",
        *(f"asset__{name}" for name in RATING_FIELDS),
    )
    frame = pd.DataFrame(
        [(*row[:4], output_limit_kw(row[4:])) for row in rows],
        columns=["asset", "kind", "at", "kw", "limit_kw"],
    )
    if frame.empty:
        return 0
    frame["kw"] = frame["kw"].clip(-frame["limit_kw"], frame["limit_kw"])
    frame["bucket"] = pd.to_datetime(frame["at"], utc=True).dt.floor(BUCKET)
    per_asset = frame.groupby(["bucket", "kind", "asset"])["kw"].mean().clip(lower=0)
    per_kind = per_asset.groupby(["bucket", "kind"]).sum().unstack(fill_value=0.0)
    for bucket, actual in per_kind.iterrows():
        solar = float(actual.get(AssetKind.PV, 0.0))
        wind = float(actual.get(AssetKind.WIND, 0.0))
        EnergyForecast.objects.filter(
            substation=substation,
            valid_at=bucket.to_pydatetime(),
        ).update(actual_solar_kw=solar, actual_wind_kw=wind, actual_kw=solar + wind)
    return len(per_kind)


def correction_ratios(*, substation: Substation, now: datetime) -> tuple[float, float]:
    """Measured over forecast output of each kind (solar, wind) over the last day,
    exponentially weighted (half-life 3 h) and bounded to 0.5-1.5.

    The newest issue of each past bucket with actuals counts; with too little
    forecast energy to compare (night, no wind) the ratio is 1 (no correction).
    """
    rows = (
        EnergyForecast.objects.filter(
            substation=substation,
            valid_at__gte=now - CORRECTION_WINDOW,
            valid_at__lt=now - BUCKET,
            actual_kw__isnull=False,
        )
        .order_by("valid_at", "-issued_at")
        .values_list(
            "valid_at",
            "solar_raw_kw",
            "wind_raw_kw",
            "actual_solar_kw",
            "actual_wind_kw",
        )
    )
    frame = pd.DataFrame(
        list(rows), columns=["at", "solar", "wind", "solar_actual", "wind_actual"]
    ).drop_duplicates("at")
    if frame.empty:
        return 1.0, 1.0
    age_h = (now - pd.to_datetime(frame["at"], utc=True)).dt.total_seconds() / 3600
    weight = 0.5 ** (age_h / CORRECTION_HALF_LIFE_H)
    hours = BUCKET.total_seconds() / 3600

    def ratio(kind: str) -> float:
        forecast_kwh = float((weight * frame[kind]).sum() * hours)
        if forecast_kwh < CORRECTION_MIN_KWH:
            return 1.0
        actual_kwh = float((weight * frame[f"{kind}_actual"]).sum() * hours)
        return float(np.clip(actual_kwh / forecast_kwh, *CORRECTION_BOUNDS))

    return ratio("solar"), ratio("wind")


# --- Accuracy, once a local day is over ---------------------------------------------

# The first runs after local midnight record the day's last actuals: wait this long.
ACCURACY_GRACE = timedelta(hours=1)
ACCURACY_COLUMNS = ["issued_at", "valid_at", "forecast", "raw", "capacity", "actual"]


def accuracy_compute(*, substation: Substation, day: date) -> list[ForecastAccuracy]:
    """Accuracy of a substation's forecasts for the buckets of one local day, one
    row per horizon, stored; computing a day again replaces its rows.

    A sample is one issue's forecast of one bucket of the day whose actual is
    known, and the actual of the bucket before that issue (persistence) too.
    """
    start, end = substation.day_bounds(day)
    rows = EnergyForecast.objects.filter(
        substation=substation,
        valid_at__gte=start - BUCKETS * BUCKET,  # persistence of the earliest issue
        valid_at__lt=end,
        actual_kw__isnull=False,
    ).values_list(
        "issued_at",
        "valid_at",
        "expected_generation",
        F("solar_raw_kw") + F("wind_raw_kw"),
        "capacity_kw",
        "actual_kw",
    )
    frame = pd.DataFrame(list(rows), columns=ACCURACY_COLUMNS)
    stats = accuracy_by_horizon(frame, start=start) if len(frame) else pd.DataFrame()
    computed = [
        ForecastAccuracy(substation=substation, day=day, **row)
        for row in stats.reset_index().to_dict("records")
    ]
    with transaction.atomic():
        ForecastAccuracy.objects.filter(substation=substation, day=day).delete()
        ForecastAccuracy.objects.bulk_create(computed)
    return computed


def accuracy_by_horizon(frame: pd.DataFrame, *, start: datetime) -> pd.DataFrame:
    """MAE, RMSE, bias (forecast minus actual), their share of capacity, the raw
    model's MAE and skill against persistence, per horizon (minutes), over the
    rows of `frame` valid from `start` (earlier rows give persistence only)."""
    actual_at = frame.drop_duplicates("valid_at").set_index("valid_at")["actual"]
    day = frame[frame["valid_at"] >= pd.Timestamp(start)].copy()
    day["persistence"] = (day["issued_at"] - BUCKET).map(actual_at)
    day = day.dropna(subset=["persistence"])
    error = day["forecast"] - day["actual"]
    samples = day.assign(
        horizon_min=(day["valid_at"] - day["issued_at"]).dt.total_seconds() // 60,
        abs_error=error.abs(),
        sq_error=error**2,
        error=error,
        raw_abs_error=(day["raw"] - day["actual"]).abs(),
        persistence_sq_error=(day["persistence"] - day["actual"]) ** 2,
    ).groupby("horizon_min")
    stats = samples.agg(
        samples=("error", "size"),
        capacity_kw=("capacity", "mean"),
        mae_kw=("abs_error", "mean"),
        rmse_kw=("sq_error", "mean"),
        bias_kw=("error", "mean"),
        raw_mae_kw=("raw_abs_error", "mean"),
        persistence_rmse_kw=("persistence_sq_error", "mean"),
    )
    stats["rmse_kw"] **= 0.5
    stats["persistence_rmse_kw"] **= 0.5
    capacity = stats["capacity_kw"].where(stats["capacity_kw"] > 0)
    stats["nmae"] = stats["mae_kw"] / capacity
    stats["nrmse"] = stats["rmse_kw"] / capacity
    persistence = stats["persistence_rmse_kw"].where(stats["persistence_rmse_kw"] > 0)
    stats["skill"] = 1 - stats["rmse_kw"] / persistence
    stats.index = stats.index.astype(int)
    return stats.astype(object).where(stats.notna(), None)


def accuracy_due(*, now: datetime | None = None) -> int:
    """Compute yesterday's accuracy (local day) for every substation whose day
    ended ACCURACY_GRACE ago and has no rows yet. Returns the days computed."""
    now = now or timezone.now()
    done = set(
        ForecastAccuracy.objects.filter(
            day__gte=(now - timedelta(days=3)).date()
        ).values_list("substation_id", "day")
    )
    computed = 0
    for substation in Substation.objects.all():
        day = substation.local_date(now - ACCURACY_GRACE) - timedelta(days=1)
        if (substation.pk, day) not in done:
            accuracy_compute(substation=substation, day=day)
            computed += 1
    return computed
