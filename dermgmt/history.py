"""A synthetic past day for the demo and the benchmarks: grid readings, dispatch
runs, setpoints, battery telemetry, interventions, incidents and forecasts with
their actuals, written in bulk so the daily report has a day to show without
waiting one. Plausible, not a simulation of the cycle: the cycle is not run.

Frequency is 60 Hz plus first-order autoregressive noise (about 12 mHz standard
deviation) and three under-frequency dips a day that the batteries answer with
droop; voltage follows the load with a morning swell above Range A.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from django.db import transaction
from scipy.signal import lfilter

from assets.models import AssetKind, AssetStatus, AssetTelemetry, DERAsset
from dermgmt.simulator import clear_sky_ghi, load_profile
from dispatch.models import (
    DispatchPolicy,
    DispatchRun,
    Intervention,
    Outcome,
    SetpointCommand,
    SetpointReason,
)
from forecasting.models import EnergyForecast
from grid.models import GridReading, GridSensor, Substation
from incidents.models import (
    GridIncident,
    IncidentKind,
    IncidentSeverity,
    IncidentStatus,
)

DAY_S = 86_400
DIPS = 3
BATCH = 5_000


def history_write(
    *,
    substations: list[Substation],
    start: datetime,
    reading_period_s: float = 5.0,
    seed: int = 1547,
) -> dict[str, int]:
    """Write the day from `start` (24 h) for each substation; returns row counts.
    Run it once per day: a second run collides with the first's readings."""
    rng = np.random.default_rng(seed)
    start = start.astimezone(UTC)  # elapsed-time arithmetic from here on
    counts: dict[str, int] = {}
    with transaction.atomic():
        for substation in substations:
            for name, n in substation_day(
                substation, start=start, period_s=reading_period_s, rng=rng
            ).items():
                counts[name] = counts.get(name, 0) + n
    return counts


def substation_day(
    substation: Substation, *, start: datetime, period_s: float, rng
) -> dict[str, int]:
    policy = DispatchPolicy.objects.filter(substation=substation).first()
    policy = policy or DispatchPolicy(substation=substation)
    sensor = GridSensor.objects.filter(substation=substation).first()
    batteries = list(
        DERAsset.objects.filter(
            substation=substation, kind=AssetKind.BATTERY, status=AssetStatus.ACTIVE
        ).values_list("pk", "max_discharge_power")
    )
    t_s = np.arange(0, DAY_S, period_s)
    deviation, dips = frequency_deviation(t_s, rng=rng)
    local_hours = (start.astimezone(substation.zone).hour + t_s / 3600) % 24
    peak_kw = substation.import_capacity_kw * 1.08
    load = peak_kw * np.vectorize(load_profile)(local_hours)
    load *= 1 + rng.normal(0, 0.01, len(t_s))
    voltage = 1.035 - 0.06 * load / peak_kw + rng.normal(0, 0.002, len(t_s))
    swell = (local_hours >= 10.5) & (local_hours < 10.75)
    voltage[swell] = rng.uniform(1.062, 1.07, swell.sum())
    f0 = float(substation.nominal_frequency_hz)
    GridReading.objects.bulk_create(
        (
            GridReading(
                substation=substation,
                sensor=sensor,
                measured_at=start + timedelta(seconds=float(t)),
                frequency_hz=round(f0 + float(df), 4),
                voltage_pu=round(float(v), 4),
                load_kw=round(float(kw), 1),
            )
            for t, df, v, kw in zip(t_s, deviation, voltage, load, strict=True)
        ),
        batch_size=BATCH,
    )
    counts = {"readings": len(t_s)}
    counts |= dispatch_day(
        substation,
        policy=policy,
        start=start,
        t_s=t_s,
        deviation=deviation,
        voltage=voltage,
        load=load,
        batteries=batteries,
        dips=dips,
    )
    counts["incidents"] = incidents_day(substation, start=start, t_s=t_s, dips=dips)
    counts["forecasts"] = forecasts_day(substation, start=start, rng=rng)
    return counts


def frequency_deviation(t_s: np.ndarray, *, rng) -> tuple[np.ndarray, list]:
    """AR(1) noise plus DIPS dips (depth 0.12-0.25 Hz, 1-3 min, recovering)."""
    a = 0.98
    noise = lfilter(
        [1.0], [1.0, -a], rng.normal(0, 0.012 * np.sqrt(1 - a * a), len(t_s))
    )
    dips = []
    for start_s in np.sort(rng.uniform(3_600, DAY_S - 3_600, DIPS)):
        depth, length = rng.uniform(0.12, 0.25), rng.uniform(60, 180)
        inside = (t_s >= start_s) & (t_s < start_s + length)
        noise[inside] -= depth * np.exp(-(t_s[inside] - start_s) / (length / 2))
        dips.append((float(start_s), float(length), float(depth)))
    return noise, dips


def dispatch_day(
    substation, *, policy, start, t_s, deviation, voltage, load, batteries, dips
) -> dict[str, int]:
    """A run per cycle with the droop response to the reading of that moment, the
    setpoints of every battery when the command changes, telemetry following."""
    cycle_s = policy.cycle_s
    period = t_s[1] - t_s[0] if len(t_s) > 1 else 1.0
    runs_t = np.arange(0, DAY_S, cycle_s)
    at = np.minimum((runs_t // period).astype(int), len(t_s) - 1)
    capacity = float(sum(kw for _, kw in batteries))
    f0 = substation.nominal_frequency_hz
    under = np.clip(-deviation[at] - policy.deadband_hz, 0, None)
    command = np.minimum(capacity, capacity * under / (policy.droop * f0))
    command = np.where(command >= policy.min_change_kw, np.round(command, 2), 0.0)
    changed = np.diff(command, prepend=0.0) != 0
    runs = DispatchRun.objects.bulk_create(
        [
            DispatchRun(
                substation=substation,
                slot_at=start + timedelta(seconds=float(t)),
                started_at=start + timedelta(seconds=float(t)),
                outcome=Outcome.DISPATCHED if change else Outcome.UNCHANGED,
                frequency_hz=f0 + float(deviation[i]),
                voltage_pu=float(voltage[i]),
                load_kw=float(load[i]),
                assets_active=len(batteries),
                capacity_nameplate_kw=capacity,
                capacity_available_kw=capacity,
                capacity_kw=capacity,
                frequency_response_kw=float(kw),
                requirement_kw=float(kw),
                imbalance_kw=float(kw) - capacity,
                held=bool(kw > 0 and not change),
                command_kw=float(kw),
                assets_commanded=len(batteries) if kw > 0 else 0,
            )
            for t, i, kw, change in zip(runs_t, at, command, changed, strict=True)
        ],
        batch_size=BATCH,
    )
    # A setpoint per battery at each change, and a refresh at each held cycle
    # (as the cycle writes them): the audit integrates to the energy in force.
    written = np.flatnonzero(changed | (command > 0))
    setpoints, telemetry = [], []
    for index in written:
        when = start + timedelta(seconds=float(runs_t[index]))
        previous = command[index - 1] if index else 0.0
        for pk, max_kw in batteries:
            share = max_kw / capacity
            setpoints.append(
                SetpointCommand(
                    asset_id=pk,
                    created_at=when,
                    previous_kw=float(previous * share),
                    new_kw=float(command[index] * share),
                    reason=SetpointReason.CYCLE
                    if changed[index]
                    else SetpointReason.REFRESH,
                    expires_at=when + timedelta(seconds=policy.setpoint_lifetime_s),
                )
            )
            if not changed[index]:
                continue
            telemetry.append(
                AssetTelemetry(
                    asset_id=pk,
                    measured_at=when + timedelta(seconds=1),
                    output_kw=float(command[index] * share),
                )
            )
    SetpointCommand.objects.bulk_create(setpoints, batch_size=BATCH)
    AssetTelemetry.objects.bulk_create(telemetry, batch_size=BATCH)
    Intervention.objects.bulk_create(
        Intervention(
            substation=substation,
            started_at=start + timedelta(seconds=start_s),
            ended_at=start + timedelta(seconds=start_s + length),
            peak_command_kw=float(command.max()),
            notified_command_kw=float(command.max()),
            notified_at=start + timedelta(seconds=start_s),
            started_run=runs[int(start_s // cycle_s)],
            ended_run=runs[min(int((start_s + length) // cycle_s), len(runs) - 1)],
        )
        for start_s, length, _ in dips
    )
    return {"runs": len(runs_t), "setpoints": len(setpoints)}


def incidents_day(substation, *, start, t_s, dips) -> int:
    """A frequency incident per dip and a voltage incident for the swell, each
    archived once the grid is back."""
    rows = [
        (IncidentKind.FREQUENCY, start_s, length, 60.0 - depth)
        for start_s, length, depth in dips
    ]
    local_start = start.astimezone(substation.zone)
    swell_s = (10.5 - local_start.hour - local_start.minute / 60) % 24 * 3600
    rows.append((IncidentKind.VOLTAGE, swell_s, 900.0, 1.07))
    GridIncident.objects.bulk_create(
        GridIncident(
            substation=substation,
            kind=kind,
            severity=IncidentSeverity.MODERATE,
            status=IncidentStatus.ARCHIVED,
            opened_at=start + timedelta(seconds=opened),
            cleared_at=start + timedelta(seconds=opened + length),
            resolved_at=start + timedelta(seconds=opened + length),
            archived_at=start + timedelta(seconds=opened + length + 300),
            worst_value=worst,
            description=f"Synthetic {kind} event (demo history).",
        )
        for kind, opened, length, worst in rows
    )
    return len(rows)


def forecasts_day(substation, *, start, rng) -> int:
    """Every 15-minute issue of the day with its 16 buckets: the actual is the
    clear-sky PV output of the substation's arrays under passing clouds; the
    forecast misses it by an error growing with the horizon."""
    kwp = sum(
        DERAsset.objects.filter(substation=substation, kind=AssetKind.PV).values_list(
            "pv_dc_kwp", flat=True
        )
    )
    buckets = pd.date_range(start - timedelta(hours=4), periods=96 + 32, freq="15min")
    ghi = clear_sky_ghi(
        latitude=substation.latitude,
        longitude=substation.longitude,
        times=buckets + timedelta(minutes=7.5),
    )
    actual = 0.8 * kwp * ghi / 1000 * rng.uniform(0.7, 1.0, len(buckets))
    rows = []
    for issue in range(len(buckets) - 16):
        for horizon in range(16):
            k = issue + horizon
            error = rng.normal(0.05, 0.04 + 0.01 * horizon)
            forecast = max(float(actual[k] * (1 + error)), 0.0)
            rows.append(
                EnergyForecast(
                    substation=substation,
                    issued_at=buckets[issue].to_pydatetime(),
                    valid_at=buckets[k].to_pydatetime(),
                    model_version="demo-history",
                    solar_raw_kw=forecast,
                    wind_raw_kw=0.0,
                    solar_kw=forecast,
                    wind_kw=0.0,
                    expected_generation=forecast,
                    capacity_kw=kwp * 0.96,
                    actual_kw=float(actual[k]),
                    actual_solar_kw=float(actual[k]),
                    actual_wind_kw=0.0,
                )
            )
    EnergyForecast.objects.bulk_create(rows, batch_size=BATCH, ignore_conflicts=True)
    return len(rows)
