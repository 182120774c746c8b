"""Writes to the grid app: recording readings, and validating those sent in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from dermgmt.db import insert_rows, update_rows
from dermgmt.ingest import Checker, as_items, lookup_keys
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
    return readings_store(
        rows=[
            [getattr(reading, name) for name in READING_COLUMNS] for reading in readings
        ]
    )


# What a reading is made of, in the order readings_store takes it.
READING_COLUMNS = [
    "substation_id",
    "sensor_id",
    "measured_at",
    "frequency_hz",
    "voltage_pu",
    "voltage_v",
    "load_kw",
]


@transaction.atomic
def readings_store(*, rows: Sequence[Sequence[Any]]) -> int:
    """Readings as rows of READING_COLUMNS: one COPY (re-sent ones skipped) and
    one UPDATE moving each sensor's `last_reading_at` forward."""
    now = timezone.now()
    insert_rows(
        model=GridReading,
        fields=[*READING_COLUMNS, "received_at"],
        rows=[[*row, now] for row in rows],
        skip_existing=True,
    )
    latest: dict[int, datetime] = {}
    for _, sensor_id, measured_at, *_ in rows:
        if sensor_id is not None:
            seen = latest.get(sensor_id)
            if seen is None or measured_at > seen:
                latest[sensor_id] = measured_at
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
    return len(rows)


def readings_ingest(*, data: Any, now: datetime | None = None) -> int:
    """Validate a batch of readings from an integration as a whole, then record
    it (re-sent readings are skipped). Raises BatchInvalid with every item's
    errors, having written nothing. Items: sensor (uid), measured_at (ISO 8601
    with offset), frequency_hz, voltage_pu, optional voltage_v, load_kw."""
    items = as_items(data)
    check = Checker(now or timezone.now())
    uids = set(lookup_keys(items, "sensor"))
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
    check.done()  # raises before anything is written
    return readings_store(
        rows=[[row[name] for name in READING_COLUMNS] for row in values]
    )
