"""Writes to the grid app: recording readings, and validating those sent in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
    Substation,
)


@transaction.atomic
def readings_record(*, readings: Sequence[GridReading]) -> int:
    """Insert readings in one statement, skipping ones already stored.

    Re-sent readings (same sensor and `measured_at`) are ignored, so a gateway may
    retry a batch safely. Each sensor's `last_reading_at` moves forward, never back.
    A reading that is not plausible at its substation (`reading_check`) refuses the
    batch: BatchInvalid, nothing written. Returns the number of readings given.
    """
    limits = substation_limits(ids={reading.substation_id for reading in readings})
    check = Checker(timezone.now())
    rows = []
    for check.index, reading in enumerate(readings):
        given = {name: getattr(reading, name) for name in READING_COLUMNS}
        row = given | reading_check(check, given, limits.get(reading.substation_id))
        rows.append([row[name] for name in READING_COLUMNS])
    check.done()
    return readings_store(rows=rows)


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
# A sensor measures once at a time: two items of one key must agree.
READING_KEY = ["sensor_id", "measured_at"]

# --- Plausibility: what a sensor at a substation can report (docs/api.md) ------
# A reading beyond these is a broken sensor or a unit mistake, never the grid: let
# through, one reading of load 1e308 kW commanded a whole fleet (issue 16). The
# database's constraints (grid.models) are the same rule without the substation.

# Load: a substation's transformers carry at most ~1.5-2x their rating in an
# emergency, so 10x the import capacity is beyond anything real; the floor serves a
# substation with little or no import (an island): 10 MW, a large feeder's load.
LOAD_MAX_IMPORT_MULTIPLE = 10.0
LOAD_MAX_FLOOR_KW = 10_000.0
# Frequency: IEEE 1547-2018 trips every DER at 56.5 / 62.0 Hz (60 Hz grids), EN
# 50549-1 at 47.5 / 51.5 Hz (50 Hz); 5 Hz off nominal the system has collapsed.
FREQUENCY_MAX_DEVIATION_HZ = 5.0
# Voltage: 0 (outage) to VOLTAGE_MAX_PU, in per unit and in volts alike (2 pu is
# far past IEEE 1547's fastest over-voltage trip, 1.20 pu).
VOLTAGE_V_WHY = f"{VOLTAGE_MAX_PU:g} x the nominal voltage"


@dataclass(frozen=True)
class ReadingLimits:
    """What a reading at one substation may say (None: no upper bound), and why
    (for the error message)."""

    frequency_hz: tuple[float, float]
    voltage_v_max: float | None
    load_kw_max: float | None
    frequency_why: str = ""
    load_why: str = ""


# A reading of an unknown sensor (refused anyway): the database's bounds.
ANY_SUBSTATION = ReadingLimits((FREQUENCY_MIN_HZ, FREQUENCY_MAX_HZ), None, None)


def reading_limits(*, substation: Substation) -> ReadingLimits:
    nominal = float(substation.nominal_frequency_hz)
    import_kw = substation.import_capacity_kw
    return ReadingLimits(
        frequency_hz=(
            nominal - FREQUENCY_MAX_DEVIATION_HZ,
            nominal + FREQUENCY_MAX_DEVIATION_HZ,
        ),
        voltage_v_max=VOLTAGE_MAX_PU * substation.nominal_voltage_v,
        load_kw_max=max(LOAD_MAX_IMPORT_MULTIPLE * import_kw, LOAD_MAX_FLOOR_KW),
        frequency_why=f"within {FREQUENCY_MAX_DEVIATION_HZ:g} Hz of the nominal "
        f"{nominal:g} Hz",
        load_why=f"{LOAD_MAX_IMPORT_MULTIPLE:g} x the import capacity of "
        f"{import_kw:g} kW, at least {LOAD_MAX_FLOOR_KW:g} kW",
    )


def substation_limits(*, ids: set[int]) -> dict[int, ReadingLimits]:
    """The limits of these substations, in one query."""
    return {
        substation.pk: reading_limits(substation=substation)
        for substation in Substation.objects.filter(pk__in=ids).only(
            "nominal_frequency_hz", "nominal_voltage_v", "import_capacity_kw"
        )
    }


def reading_check(
    check: Checker, values: Mapping[str, Any], limits: ReadingLimits | None
) -> dict[str, float | None]:
    """The numbers of one reading, each recorded on `check` as an error unless
    finite and plausible at its substation (`limits`; None when the substation
    is unknown: then only what holds everywhere, the database's bounds)."""
    limits = limits or ANY_SUBSTATION
    low_hz, high_hz = limits.frequency_hz
    return {
        "frequency_hz": check.number(
            values, "frequency_hz", low=low_hz, high=high_hz, why=limits.frequency_why
        ),
        "voltage_pu": check.number(values, "voltage_pu", low=0, high=VOLTAGE_MAX_PU),
        "voltage_v": check.number(
            values,
            "voltage_v",
            low=0,
            high=limits.voltage_v_max,
            required=False,
            why=VOLTAGE_V_WHY,
        ),
        "load_kw": check.number(
            values, "load_kw", low=0, high=limits.load_kw_max, why=limits.load_why
        ),
    }


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
    with offset, at most INGEST_MAX_AGE_S old), frequency_hz, voltage_pu,
    optional voltage_v, load_kw; each number finite and plausible at the
    sensor's substation (`reading_check`). Two items of one sensor and time
    must agree (an exact repeat is a retry)."""
    items = as_items(data)
    check = Checker(now or timezone.now())
    sensors = {
        sensor.uid: sensor
        for sensor in GridSensor.objects.filter(
            uid__in=set(lookup_keys(items, "sensor")), is_active=True
        )
        .select_related("substation")
        .only(
            "uid",
            "substation__nominal_frequency_hz",
            "substation__nominal_voltage_v",
            "substation__import_capacity_kw",
        )
    }
    limits = {
        sensor.pk: reading_limits(substation=sensor.substation)
        for sensor in sensors.values()
    }
    rows: list[list[Any]] = []
    for check.index, item in enumerate(items):
        uid = item.get("sensor")
        sensor = sensors.get(uid) if isinstance(uid, str) else None
        if sensor is None:
            check.fail("sensor", f"Unknown or inactive sensor: {item.get('sensor')!r}.")
        measured_at = check.moment(item, "measured_at")
        numbers = reading_check(
            check, item, None if sensor is None else limits[sensor.pk]
        )
        if sensor is not None:
            row = {
                "substation_id": sensor.substation_id,
                "sensor_id": sensor.pk,
                "measured_at": measured_at,
            } | numbers
            check.distinct(row, key=READING_KEY, what="sensor and measured_at")
            rows.append([row[name] for name in READING_COLUMNS])
    check.done()  # raises before anything is written
    return readings_store(rows=rows)
