"""Reads of grid state that the cycle, the dashboard and the report reuse."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from grid.models import GridReading


@dataclass(frozen=True)
class GridStatus:
    """The latest reading of a substation and how old it is (workflow step 1)."""

    substation_id: int
    measured_at: datetime
    frequency_hz: float
    voltage_pu: float
    load_kw: float
    age_s: float

    def is_stale(self, *, max_age_s: float) -> bool:
        return self.age_s > max_age_s


# Built once: runs every cycle of every substation. The (substation, -measured_at)
# index serves it.
LATEST_READING = GridReading.objects.order_by("-measured_at").values_list(
    "measured_at", "frequency_hz", "voltage_pu", "load_kw"
)


def grid_status(*, substation_id: int, now: datetime) -> GridStatus | None:
    """Latest reading of any sensor of the substation, or None if it never reported.

    Readings stamped after `now` are ignored, so a gateway whose clock runs ahead
    cannot pin one reading as "the newest" for hours.
    """
    latest = LATEST_READING.filter(substation_id=substation_id, measured_at__lte=now)
    row = latest.first()
    if row is None:
        return None
    measured_at, frequency_hz, voltage_pu, load_kw = row
    return GridStatus(
        substation_id=substation_id,
        measured_at=measured_at,
        frequency_hz=frequency_hz,
        voltage_pu=voltage_pu,
        load_kw=load_kw,
        age_s=(now - measured_at).total_seconds(),
    )
