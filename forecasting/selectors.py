"""Reads of forecasts that the prediction, the dashboard and the report reuse."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
from django.db.models import F, FloatField, Sum

from forecasting.models import WEATHER_COLUMNS, ForecastAccuracy, WeatherForecast


def weather_in_force(
    *, substation_id: int, start: datetime, end: datetime
) -> pd.DataFrame:
    """The newest forecast for each valid time in [start, end], any provider,
    as a frame indexed by valid time (UTC), one column per WEATHER_COLUMNS."""
    rows = (
        WeatherForecast.objects.filter(
            substation_id=substation_id, valid_at__gte=start, valid_at__lte=end
        )
        .order_by("valid_at", "-issued_at")
        .values_list("valid_at", *WEATHER_COLUMNS)
    )
    frame = pd.DataFrame.from_records(
        list(rows), columns=["valid_at", *WEATHER_COLUMNS]
    )
    frame = frame.drop_duplicates("valid_at", keep="first")
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("valid_at"), utc=True))
    return frame.astype(float)


@dataclass(frozen=True)
class AccuracySummary:
    """A day's forecast accuracy over all horizons (and substations)."""

    samples: int
    mae_kw: float
    rmse_kw: float
    bias_kw: float
    nmae: float | None
    nrmse: float | None
    skill: float | None


def accuracy_of_day(
    *, day: date, substation_ids: Iterable[int] | None = None
) -> AccuracySummary | None:
    """The stored per-horizon accuracy of `day` pooled over every horizon and the
    given substations (all when None): means weighted by samples, RMSE from the
    pooled squared errors, normalised by the sample-weighted capacity. None when
    nothing was measured."""
    rows = ForecastAccuracy.objects.filter(day=day)
    if substation_ids is not None:
        rows = rows.filter(substation_id__in=list(substation_ids))

    def weighted(term):
        return Sum(F("samples") * term, output_field=FloatField())

    sums = rows.aggregate(
        n=Sum("samples"),
        abs_error=weighted(F("mae_kw")),
        sq_error=weighted(F("rmse_kw") * F("rmse_kw")),
        error=weighted(F("bias_kw")),
        capacity=weighted(F("capacity_kw")),
        persistence_sq_error=weighted(
            F("persistence_rmse_kw") * F("persistence_rmse_kw")
        ),
    )
    samples = sums["n"]
    if not samples:
        return None
    mae = sums["abs_error"] / samples
    rmse = math.sqrt(sums["sq_error"] / samples)
    capacity = sums["capacity"] / samples
    persistence = math.sqrt(sums["persistence_sq_error"] / samples)
    return AccuracySummary(
        samples=samples,
        mae_kw=mae,
        rmse_kw=rmse,
        bias_kw=sums["error"] / samples,
        nmae=mae / capacity if capacity > 0 else None,
        nrmse=rmse / capacity if capacity > 0 else None,
        skill=1 - rmse / persistence if persistence > 0 else None,
    )
