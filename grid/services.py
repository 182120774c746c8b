"""Writes to the grid app: recording readings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction

from dermgmt.db import update_rows
from grid.models import GridReading, GridSensor


@transaction.atomic
def readings_record(*, readings: Sequence[GridReading]) -> int:
    """Insert readings in one statement, skipping ones already stored.

    Re-sent readings (same sensor and `measured_at`) are ignored, so a gateway may
    retry a batch safely. Each sensor's `last_reading_at` moves forward, never back.
    Returns the number of readings given (stored now or before).
    """
    GridReading.objects.bulk_create(readings, ignore_conflicts=True, batch_size=2000)
    latest: dict[int, datetime] = {}
    for reading in readings:
        if reading.sensor_id is not None:
            seen = latest.get(reading.sensor_id)
            if seen is None or reading.measured_at > seen:
                latest[reading.sensor_id] = reading.measured_at
    if latest:
        stored = GridSensor.objects.filter(pk__in=latest).values_list(
            "pk", "last_reading_at"
        )
        newest = {
            pk: max(latest[pk], before) if before else latest[pk]
            for pk, before in stored
        }
        update_rows(
            model=GridSensor,
            pks=list(newest),
            columns={"last_reading_at": list(newest.values())},
        )
    return len(readings)
