"""Writes to the grid app: recording readings, and validating those sent in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from dermgmt.db import update_rows
from dermgmt.ingest import Checker, as_items
from grid.models import (
    FREQUENCY_MAX_HZ,
    FREQUENCY_MIN_HZ,
    VOLTAGE_MAX_PU,
    GridReading,
    GridSensor,
)


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


def readings_ingest(*, data: Any, now: datetime | None = None) -> int:
    """Validate a batch of readings from an integration as a whole, then record
    it (re-sent readings are skipped). Raises BatchInvalid with every item's
    errors, having written nothing. Items: sensor (uid), measured_at (ISO 8601
    with offset), frequency_hz, voltage_pu, optional voltage_v, load_kw."""
    items = as_items(data)
    check = Checker(now or timezone.now())
    uids = {item.get("sensor") for item in items if isinstance(item.get("sensor"), str)}
    sensors = {
        uid: (pk, substation_id)
        for uid, pk, substation_id in GridSensor.objects.filter(
            uid__in=uids, is_active=True
        ).values_list("uid", "pk", "substation_id")
    }
    values: list[dict[str, Any]] = []
    for check.index, item in enumerate(items):
        uid = item.get("sensor")
        sensor = sensors.get(uid) if isinstance(uid, str) else None
        if sensor is None:
            check.fail("sensor", f"Unknown or inactive sensor: {item.get('sensor')!r}.")
        values.append(
            {
                "substation_id": sensor[1] if sensor else None,
                "sensor_id": sensor[0] if sensor else None,
                "measured_at": check.moment(item, "measured_at"),
                "frequency_hz": check.number(
                    item, "frequency_hz", low=FREQUENCY_MIN_HZ, high=FREQUENCY_MAX_HZ
                ),
                "voltage_pu": check.number(
                    item, "voltage_pu", low=0, high=VOLTAGE_MAX_PU
                ),
                "voltage_v": check.number(item, "voltage_v", low=0, required=False),
                "load_kw": check.number(item, "load_kw", low=0),
            }
        )
    check.done()  # raises before anything is built or written
    return readings_record(readings=[GridReading(**row) for row in values])
