"""Reads of forecasts that the prediction, the dashboard and the report reuse."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from forecasting.models import WeatherForecast

WEATHER_COLUMNS = [
    "ghi_w_m2",
    "dni_w_m2",
    "dhi_w_m2",
    "air_temperature_c",
    "wind_speed_m_s",
    "wind_speed_height_m",
]


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
