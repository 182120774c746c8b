"""The stabilisation cycle at N = 10,000 and 100,000 batteries in one substation.

Each measured cycle changes every battery's setpoint (the load alternates), so it
is the full write: N target updates and N audit rows. The floor is the same work
written by hand in the same run: fetch the fleet's columns, compute the targets
with numpy, one UPDATE ... FROM unnest(...), COPY of the audit rows, one commit.
Median of 5 cycles each.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
from django.db import connection, transaction

SIZES = [10_000, 100_000]
_clock = itertools.count(1)
EPOCH = datetime.now(UTC).replace(microsecond=0)  # fresh slots every run


def substation_with(n: int):
    from bench.common import bench_batteries, bench_substation

    substation = bench_substation(f"bench-dispatch-{n}")
    bench_batteries([substation], n)
    return substation


def prepare(substation, n: int) -> datetime:
    """A fresh reading and fresh telemetry for the next slot; returns its time."""
    from assets.models import DERAsset
    from grid.models import GridReading, GridSensor

    step = next(_clock)
    at = EPOCH + timedelta(seconds=5 * step)
    DERAsset.objects.filter(substation=substation).update(last_telemetry_at=at)
    GridReading.objects.create(
        substation=substation,
        sensor=GridSensor.objects.get(substation=substation),
        measured_at=at,
        frequency_hz=60.0,
        voltage_pu=1.0,
        load_kw=n * (2.0 if step % 2 else 3.0),  # every setpoint changes
    )
    with connection.cursor() as cursor:  # each round starts from a vacuumed table
        cursor.execute("VACUUM (ANALYZE) assets_derasset")
    return at


def floor_cycle(substation, now: datetime) -> None:
    """Hand-written: the same reads and writes as a cycle, no framework.

    Fetch the fleet, compute targets with numpy, insert the run, one UPDATE ...
    FROM unnest of the targets (expiry and source set once), COPY the audit rows
    with the same columns the service writes, commit.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT load_kw FROM grid_gridreading WHERE substation_id = %s "
            "ORDER BY measured_at DESC LIMIT 1",
            [substation.pk],
        )
        (load_kw,) = cursor.fetchone()
        cursor.execute(
            "SELECT id, max_discharge_power, energy_capacity_kwh, state_of_charge, "
            "min_soc_reserve, target_output_kw FROM assets_derasset "
            "WHERE substation_id = %s AND kind = 'battery' AND status = 'active' "
            "AND last_telemetry_at >= %s",
            [substation.pk, now - timedelta(minutes=5)],
        )
        table = np.array(cursor.fetchall(), dtype=np.float64)
        pks, max_kw, kwh, soc, reserve, target = table.T
        avail = np.minimum(max_kw, np.maximum(soc - reserve, 0) / 100 * kwh / 0.25)
        new = avail * min(1.0, load_kw / avail.sum())
        ids = pks.astype(np.int64).tolist()
        cursor.execute(
            "INSERT INTO dispatch_dispatchrun (substation_id, slot_at, started_at, "
            "outcome, detail, assets_active, capacity_nameplate_kw, "
            "capacity_available_kw, capacity_kw, limited_by_energy, "
            "limited_by_ramp, limited_by_volt_watt, manual_kw, over_frequency_kw, "
            "load_need_kw, frequency_response_kw, requirement_kw, imbalance_kw, "
            "volt_watt_factor, held, command_kw, assets_commanded, "
            "setpoints_changed) VALUES (%s, %s, %s, 'dispatched', '', %s, 0, 0, 0, "
            "0, 0, 0, 0, 0, 0, 0, 0, 0, 1, false, 0, 0, 0) RETURNING id",
            [substation.pk, now - timedelta(days=3650), now, len(ids)],
        )
        (run_id,) = cursor.fetchone()
        expires = now + timedelta(seconds=15)
        cursor.execute(
            "UPDATE assets_derasset a SET target_output_kw = v.t, "
            "setpoint_expires_at = %s, setpoint_source = 'auto' "
            "FROM unnest(%s::bigint[], %s::float8[]) AS v(id, t) WHERE a.id = v.id",
            [expires, ids, new.tolist()],
        )
        with cursor.cursor.copy(
            "COPY dispatch_setpointcommand (asset_id, run_id, user_id, created_at, "
            "previous_kw, new_kw, reason, expires_at) FROM STDIN"
        ) as copy:
            rows = zip(ids, target.tolist(), new.tolist(), strict=True)
            for pk, before, after in rows:
                copy.write_row((pk, run_id, None, now, before, after, "cycle", expires))


def measure(n: int) -> None:
    from bench.common import median_s, report
    from dispatch.models import Outcome
    from dispatch.services import cycle_run

    substation = substation_with(n)
    state: dict = {"outcomes": []}

    def before():
        state["now"] = prepare(substation, n)

    def ours():
        run = cycle_run(substation_id=substation.pk, now=state["now"])
        state["outcomes"].append((run.outcome, run.setpoints_changed))

    floor_s = median_s(lambda: floor_cycle(substation, state["now"]), before=before)
    ours_s = median_s(ours, before=before)
    outcomes = state["outcomes"]
    print(f"  N = {n:,} batteries (cycles: {sorted(set(outcomes))})")
    assert all(outcome == Outcome.DISPATCHED for outcome, _ in outcomes), outcomes
    report("floor: the same reads and writes, by hand", floor_s, n)
    report("cycle_run (median of 5)", ours_s, n, floor_s)


def main() -> None:
    for n in SIZES:
        measure(n)
