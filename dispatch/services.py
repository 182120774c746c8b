"""The stabilisation cycle (workflow steps 1-6), setpoints and dispatch policies.

Each step is a small function; `cycle_run` strings them together for one
substation under its lock, in one transaction, with a constant number of queries
whatever the size of the fleet.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from assets.models import AssetKind, AssetStatus, DERAsset, SetpointSource
from assets.selectors import Fleet, battery_fleet
from dermgmt.db import insert_rows, update_rows
from dermgmt.locks import substation_lock_try, substation_lock_wait
from dispatch import rules
from dispatch.models import (
    DispatchPolicy,
    DispatchPolicyChange,
    DispatchRun,
    Intervention,
    Outcome,
    SetpointCommand,
    SetpointReason,
)
from grid.models import Substation
from grid.selectors import GridStatus, grid_status
from incidents.notifications import (
    discharge_sms_enqueue,
    operator_email_enqueue,
    sends_batched,
)
from incidents.rules import Observation
from incidents.services import faults_handle, incidents_evaluate

logger = logging.getLogger(__name__)

# Two setpoints closer than this (kW) are the same setpoint.
SAME_KW = 1e-9


def setpoints_changed(*, previous_kw: np.ndarray, new_kw: np.ndarray) -> np.ndarray:
    """Which setpoints are commanded anew (and so get an audit row)."""
    return np.abs(new_kw - previous_kw) > SAME_KW


def policy_for(*, substation: Substation) -> DispatchPolicy:
    """The substation's policy, or the standards' defaults if it has none yet."""
    try:
        return substation.dispatch_policy
    except DispatchPolicy.DoesNotExist:
        return DispatchPolicy(substation=substation)


def slot_of(*, at: datetime, cycle_s: int) -> datetime:
    """Start of the cycle slot `at` falls in; a cycle is idempotent per slot."""
    start = math.floor(at.timestamp() / cycle_s) * cycle_s
    return datetime.fromtimestamp(start, tz=UTC)


# --- Setpoints: the one place that changes target_output_kw --------------------


def setpoints_write(
    *,
    pks: np.ndarray,
    previous_kw: np.ndarray,
    new_kw: np.ndarray,
    expires_at: list[datetime | None],
    source: list[str],
    reason: list[str],
    now: datetime,
    run: DispatchRun | None = None,
    user: User | None = None,
) -> int:
    """Write setpoints in one UPDATE and one audit row per changed value.

    Rows whose value does not change only get their expiry (and source) written:
    no audit row, since nothing was commanded anew. Owners of batteries that start
    discharging get their SMS written to the outbox (step 10). Returns the number
    changed. The caller holds the substation's lock and has checked every limit.
    """
    if not len(pks):
        return 0
    update_rows(
        model=DERAsset,
        pks=[int(pk) for pk in pks],
        columns={
            "target_output_kw": [float(kw) for kw in new_kw],
            "setpoint_expires_at": expires_at,
            "setpoint_source": source,
        },
    )
    changed = np.flatnonzero(setpoints_changed(previous_kw=previous_kw, new_kw=new_kw))
    run_id = run.pk if run else None
    user_id = user.pk if user else None
    started = np.flatnonzero((previous_kw <= SAME_KW) & (new_kw > SAME_KW))
    if len(started):  # step 10: a remote discharge starts
        discharge_sms_enqueue(
            asset_ids=pks[started].tolist(),
            target_kw=new_kw[started].tolist(),
            key=f"discharge:run{run_id}" if run else f"discharge:{now.isoformat()}",
            run_id=run_id,
            now=now,
        )
    insert_rows(
        model=SetpointCommand,
        fields=[
            "asset",
            "run",
            "user",
            "created_at",
            "previous_kw",
            "new_kw",
            "reason",
            "expires_at",
        ],
        rows=[
            (
                int(pks[i]),
                run_id,
                user_id,
                now,
                float(previous_kw[i]),
                float(new_kw[i]),
                reason[i],
                expires_at[i],
            )
            for i in changed
        ],
    )
    return len(changed)


# --- The cycle ------------------------------------------------------------------


@dataclass
class Decision:
    """What the cycle decided for a fleet: new targets, which to refresh, why."""

    outcome: str
    new_kw: np.ndarray
    refresh: np.ndarray
    detail: str = ""


def fleet_available_kw(*, fleet: Fleet, policy: DispatchPolicy) -> np.ndarray:
    """avail_i of every battery of the fleet (step 3), eligible or not."""
    avail = rules.available_kw(
        max_discharge_kw=fleet.max_discharge_kw,
        energy_capacity_kwh=fleet.energy_capacity_kwh,
        state_of_charge_pct=fleet.state_of_charge_pct,
        reserve_pct=fleet.reserve_pct,
        ramp_kw_per_s=fleet.ramp_kw_per_s,
        target_kw=fleet.target_kw,
        horizon_h=policy.energy_horizon_h,
        cycle_s=policy.cycle_s,
    )
    return avail


def safe_default_kw(*, fleet: Fleet, avail: np.ndarray) -> np.ndarray:
    """Targets that command nothing new.

    Eligible and manual setpoints stay, lowered to what the battery can still give
    (a battery draining toward its reserve is never held above it); every other
    asset goes to 0. Nothing rises.
    """
    held = fleet.eligible | fleet.manual
    return np.where(held, np.minimum(fleet.target_kw, avail), 0.0)


def decide(
    *,
    run: DispatchRun,
    status: GridStatus | None,
    fleet: Fleet,
    avail: np.ndarray,
    substation: Substation,
    policy: DispatchPolicy,
) -> Decision:
    """Steps 4-6: requirement, imbalance, command and allocation, recorded on `run`."""
    keep = safe_default_kw(fleet=fleet, avail=avail)
    nothing = np.zeros(len(keep), dtype=bool)
    if not policy.enabled:
        return Decision(Outcome.DISABLED, keep, nothing, "automatic dispatch is off")
    if status is None:
        return Decision(Outcome.STALE, keep, nothing, "no grid reading yet")
    if status.is_stale(max_age_s=policy.max_reading_age_s):
        return Decision(
            Outcome.STALE,
            keep,
            nothing,
            f"latest reading is {status.age_s:.0f} s old "
            f"(limit {policy.max_reading_age_s} s)",
        )
    capacity = run.capacity_available_kw
    run.frequency_response_kw = rules.frequency_response_kw(
        capacity_kw=capacity,
        frequency_hz=status.frequency_hz,
        nominal_hz=substation.nominal_frequency_hz,
        deadband_hz=policy.deadband_hz,
        droop=policy.droop,
    )
    run.requirement_kw = rules.requirement_kw(
        load_kw=status.load_kw,
        import_capacity_kw=substation.import_capacity_kw,
        frequency_response_kw=run.frequency_response_kw,
        manual_kw=run.manual_kw,
    )
    run.imbalance_kw = run.requirement_kw - capacity
    run.volt_watt_factor = rules.volt_watt_factor(
        voltage_pu=status.voltage_pu,
        start_pu=policy.volt_watt_start_pu,
        end_pu=policy.volt_watt_end_pu,
    )
    command = rules.discharge_command_kw(
        requirement_kw=run.requirement_kw,
        capacity_kw=capacity,
        volt_watt_factor=run.volt_watt_factor,
    )
    run.command_kw = command
    if not fleet.eligible.any():
        return Decision(Outcome.NO_ASSETS, keep, nothing, "no dispatchable battery")
    deficit = run.imbalance_kw > 0
    previous = float(fleet.target_kw[fleet.eligible].sum())
    within = bool(np.all(fleet.target_kw[fleet.eligible] <= avail[fleet.eligible]))
    if rules.holds(
        command_kw=command,
        previous_kw=previous,
        min_change_kw=policy.min_change_kw,
        targets_within_limits=within,
    ):
        run.command_kw = previous
        return Decision(
            Outcome.INSUFFICIENT if deficit else Outcome.UNCHANGED,
            keep,
            fleet.eligible & (keep > 0),
            f"computed {command:.2f} kW is within {policy.min_change_kw:g} kW of "
            f"the {previous:.2f} kW in force: held",
        )
    new = np.where(fleet.manual, keep, 0.0)
    new[fleet.eligible] = rules.allocate(
        command_kw=command, available=avail[fleet.eligible]
    )
    return Decision(
        Outcome.INSUFFICIENT if deficit else Outcome.DISPATCHED,
        new,
        fleet.eligible & (new > 0),
        f"deficit of {run.imbalance_kw:.2f} kW" if deficit else "",
    )


def cycle_apply(
    *, substation: Substation, policy: DispatchPolicy, slot_at: datetime, now: datetime
) -> DispatchRun:
    """Steps 1-8 and 14 for one substation; the caller holds its lock and a
    transaction. Hardware faults (step 7) come first, so a battery that has just
    reported a critical error is out of this very cycle."""
    started = time.perf_counter()
    faults_handle(substation_id=substation.pk, now=now)
    status = grid_status(substation_id=substation.pk, now=now)
    fleet = battery_fleet(
        substation_id=substation.pk,
        fresh_since=now - timedelta(seconds=policy.max_telemetry_age_s),
        now=now,
    )
    avail = fleet_available_kw(fleet=fleet, policy=policy)
    run = DispatchRun(
        substation=substation,
        slot_at=slot_at,
        started_at=now,
        assets_active=int(fleet.eligible.sum()),
        capacity_nameplate_kw=float(fleet.max_discharge_kw[fleet.eligible].sum()),
        capacity_available_kw=float(avail[fleet.eligible].sum()),
        manual_kw=float(safe_default_kw(fleet=fleet, avail=avail)[fleet.manual].sum()),
    )
    if status is not None:
        run.frequency_hz = status.frequency_hz
        run.voltage_pu = status.voltage_pu
        run.load_kw = status.load_kw
        run.reading_at = status.measured_at
        run.reading_age_s = status.age_s
    decision = decide(
        run=run,
        status=status,
        fleet=fleet,
        avail=avail,
        substation=substation,
        policy=policy,
    )
    run.outcome = decision.outcome
    run.detail = decision.detail
    run.assets_commanded = int((fleet.eligible & (decision.new_kw > 0)).sum())
    changed = setpoints_changed(previous_kw=fleet.target_kw, new_kw=decision.new_kw)
    write = changed | decision.refresh
    # A refresh rewrites the value in force: a difference too small to be a new
    # command (and to be audited) is not written either.
    new_kw = np.where(changed, decision.new_kw, fleet.target_kw)
    run.setpoints_changed = int(changed.sum())
    run.duration_ms = (time.perf_counter() - started) * 1000
    run.save()

    expires = now + timedelta(seconds=policy.setpoint_lifetime_s)
    setpoints_write(
        pks=fleet.pks[write],
        previous_kw=fleet.target_kw[write],
        new_kw=new_kw[write],
        expires_at=[expires if kw > 0 else None for kw in new_kw[write]],
        source=[SetpointSource.AUTO] * int(write.sum()),
        reason=[
            SetpointReason.CYCLE if eligible else SetpointReason.INELIGIBLE
            for eligible in fleet.eligible[write]
        ],
        now=now,
        run=run,
    )
    evaluated = run.outcome not in (Outcome.STALE, Outcome.DISABLED)
    if evaluated:
        intervention_follow(
            run=run,
            substation=substation,
            previous_kw=float(fleet.target_kw[~fleet.manual].sum()),
            now=now,
        )
    incidents_evaluate(
        substation_id=substation.pk,
        observation=Observation(
            nominal_frequency_hz=substation.nominal_frequency_hz,
            max_reading_age_s=policy.max_reading_age_s,
            reading_age_s=run.reading_age_s,
            voltage_pu=run.voltage_pu,
            frequency_hz=run.frequency_hz,
            requirement_kw=run.requirement_kw if evaluated else None,
            deficit_kw=run.imbalance_kw if evaluated else None,
        ),
        hold_s=policy.resolve_hold_s,
        now=now,
    )
    return run


# Step 9: a change of at least this share of the last mailed command is material.
MATERIAL_CHANGE = 0.25


def intervention_follow(
    *, run: DispatchRun, substation: Substation, previous_kw: float, now: datetime
) -> Intervention | None:
    """Start, follow and end the substation's intervention; mail the operators.

    No query while nothing is commanded, or while the command holds. A material
    change (25 % of the last mailed command) is mailed at most every
    INTERVENTION_EMAIL_MIN_INTERVAL_S: grouped, not one email per cycle.
    """
    commanding = run.command_kw > SAME_KW
    if not commanding and previous_kw <= SAME_KW:
        return None
    if commanding and abs(run.command_kw - previous_kw) <= SAME_KW:
        return None
    # In SQL: the ORM's compilation of this filter cost more than the query.
    open_sql = "SELECT * FROM {table} WHERE substation_id = %s AND ended_at IS NULL"
    table = Intervention._meta.db_table
    found = Intervention.objects.raw(open_sql.format(table=table), [substation.pk])
    intervention = next(iter(found), None)
    previous: float | None = None
    if intervention is None:
        if not commanding:
            return None
        intervention = Intervention.objects.create(
            substation=substation,
            started_at=now,
            started_run=run,
            peak_command_kw=run.command_kw,
            notified_command_kw=run.command_kw,
            notified_at=now,
        )
        event = "started"
    elif not commanding:
        intervention.ended_at = now
        intervention.ended_run = run
        intervention.save(update_fields=["ended_at", "ended_run"])
        event = "ended"
        previous = previous_kw
    else:
        intervention.peak_command_kw = max(intervention.peak_command_kw, run.command_kw)
        last = intervention.notified_command_kw
        material = abs(run.command_kw - last) >= MATERIAL_CHANGE * last
        quiet_s = (now - intervention.notified_at).total_seconds()
        if not material or quiet_s < settings.INTERVENTION_EMAIL_MIN_INTERVAL_S:
            intervention.save(update_fields=["peak_command_kw"])
            return intervention
        previous = last
        intervention.notified_command_kw = run.command_kw
        intervention.notified_at = now
        intervention.save(
            update_fields=["peak_command_kw", "notified_command_kw", "notified_at"]
        )
        event = "changed"
    operator_email_enqueue(
        event=event,
        context=intervention_context(
            run=run,
            substation=substation,
            intervention=intervention,
            previous_kw=previous,
            now=now,
        ),
        key=f"intervention{intervention.pk}:{event}:run{run.pk}",
        run_id=run.pk,
    )
    return intervention


def intervention_context(
    *,
    run: DispatchRun,
    substation: Substation,
    intervention: Intervention,
    previous_kw: float | None,
    now: datetime,
) -> dict[str, Any]:
    """What the operator email says, as plain values (stored with the outbox row
    and rendered by the sender)."""

    def utc(at: datetime | None) -> str:
        return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if at else ""

    run_fields = [
        "frequency_hz",
        "voltage_pu",
        "load_kw",
        "requirement_kw",
        "imbalance_kw",
        "command_kw",
        "assets_commanded",
        "assets_active",
        "capacity_available_kw",
        "capacity_nameplate_kw",
    ]
    return {
        "substation": {
            "code": substation.code,
            "name": substation.name,
            "nominal_frequency_hz": substation.nominal_frequency_hz,
            "import_capacity_kw": substation.import_capacity_kw,
        },
        "run": {
            "pk": run.pk,
            "started_at": utc(run.started_at),
            **{name: getattr(run, name) for name in run_fields},
        },
        "intervention": {
            "started_at": utc(intervention.started_at),
            "peak_command_kw": intervention.peak_command_kw,
        },
        "previous_kw": previous_kw,
        "duration_min": (now - intervention.started_at).total_seconds() / 60,
    }


def run_record(
    *,
    substation: Substation,
    slot_at: datetime,
    now: datetime,
    outcome: str,
    detail: str,
) -> DispatchRun:
    return DispatchRun.objects.create(
        substation=substation,
        slot_at=slot_at,
        started_at=now,
        outcome=outcome,
        detail=detail,
    )


DONE = "this time slot has already been dispatched"


def cycle_skipped(
    *, substation: Substation, slot_at: datetime, now: datetime, why: str
) -> DispatchRun:
    logger.info("dispatch cycle of %s skipped: %s", substation.code, why)
    return run_record(
        substation=substation,
        slot_at=slot_at,
        now=now,
        outcome=Outcome.SKIPPED,
        detail=why,
    )


def slot_dispatched(*, substation: Substation, slot_at: datetime) -> bool:
    runs = DispatchRun.objects.filter(substation=substation, slot_at=slot_at)
    return runs.exclude(outcome=Outcome.SKIPPED).exists()


def cycle_failed(
    *, substation: Substation, slot_at: datetime, now: datetime, exc: Exception
) -> DispatchRun:
    logger.error("dispatch cycle of %s failed", substation.code, exc_info=exc)
    try:
        with transaction.atomic():
            return run_record(
                substation=substation,
                slot_at=slot_at,
                now=now,
                outcome=Outcome.ERROR,
                detail=f"{type(exc).__name__}: {exc}",
            )
    except IntegrityError:  # a concurrent cycle has dispatched the slot meanwhile
        return cycle_skipped(substation=substation, slot_at=slot_at, now=now, why=DONE)


def cycle_run(
    *, substation_id: int, slot_at: datetime | None = None, now: datetime | None = None
) -> DispatchRun:
    """One stabilisation cycle of a substation, at most once per time slot.

    Under the substation's lock and in one transaction: a second cycle started
    while one runs, or for a slot already done, records a `skipped` run and
    changes nothing. An exception rolls the cycle back and records an `error` run.
    """
    now = now or timezone.now()
    substation = Substation.objects.select_related("dispatch_policy").get(
        pk=substation_id
    )
    policy = policy_for(substation=substation)
    slot_at = slot_at or slot_of(at=now, cycle_s=policy.cycle_s)
    skipped = ""
    try:
        with transaction.atomic():
            if not substation_lock_try(substation_id=substation_id):
                skipped = "another cycle of this substation holds the lock"
            else:
                return cycle_apply(
                    substation=substation, policy=policy, slot_at=slot_at, now=now
                )
    except IntegrityError as exc:
        if not slot_dispatched(substation=substation, slot_at=slot_at):
            return cycle_failed(
                substation=substation, slot_at=slot_at, now=now, exc=exc
            )
        # The run's insert hit the one-run-per-slot constraint, before any write.
        skipped = DONE
    except Exception as exc:
        return cycle_failed(substation=substation, slot_at=slot_at, now=now, exc=exc)
    return cycle_skipped(substation=substation, slot_at=slot_at, now=now, why=skipped)


def cycles_run(
    *, substation_ids: list[int], slot_at: datetime, deadline: datetime
) -> list[DispatchRun]:
    """The cycles of several substations for one slot, one after the other.

    Each is its own `cycle_run` (lock, transaction, failure recorded as its own
    run). Cycles not started by `deadline` (a cycle period after the fan-out) are
    left out, as an expired task would be: the next slot's cycle is due by then.
    Their notifications go to the sender in one task at the end.
    """
    runs = []
    with sends_batched():
        for done, substation_id in enumerate(substation_ids):
            if timezone.now() >= deadline:
                logger.warning(
                    "dispatch slot %s: %d of %d cycles not started by the deadline",
                    slot_at.isoformat(),
                    len(substation_ids) - done,
                    len(substation_ids),
                )
                break
            try:
                runs.append(cycle_run(substation_id=substation_id, slot_at=slot_at))
            except Substation.DoesNotExist:  # deleted since the fan-out
                logger.info("substation %s no longer exists: no cycle", substation_id)
    return runs


# --- Expiry: the safe default -----------------------------------------------------


def setpoints_expire(*, now: datetime | None = None) -> int:
    """Return every expired setpoint to 0 (the safe default), audited; return how many.

    A dead controller must never leave batteries discharging. Each substation is
    handled under its lock; one held by a running cycle is left for the next sweep
    (the cycle rewrites its setpoints anyway).
    """
    now = now or timezone.now()
    expired = DERAsset.objects.filter(setpoint_expires_at__lte=now)
    changed = 0
    for substation_id in expired.values_list("substation_id", flat=True).distinct():
        with transaction.atomic():
            if not substation_lock_try(substation_id=substation_id):
                continue
            rows = list(
                expired.filter(substation_id=substation_id).values_list(
                    "pk", "target_output_kw"
                )
            )
            pks, targets = (np.array(column) for column in zip(*rows, strict=True))
            changed += setpoints_write(
                pks=pks,
                previous_kw=targets.astype(np.float64),
                new_kw=np.zeros(len(rows)),
                expires_at=[None] * len(rows),
                source=[SetpointSource.AUTO] * len(rows),
                reason=[SetpointReason.EXPIRED] * len(rows),
                now=now,
            )
    return changed


# --- Manual setpoints -------------------------------------------------------------


def setpoint_limit_error(
    *, asset: DERAsset, target_kw: float, policy: DispatchPolicy, now: datetime
) -> str | None:
    """Why `target_kw` may not be commanded to `asset` now, or None if it may.

    The cycle's own limits: a battery, active, reporting, and at most its
    available power (max discharge, energy above reserve over the horizon, ramp).
    """
    if not math.isfinite(target_kw) or target_kw < 0:
        return "A setpoint is a discharge power of 0 kW or more."
    if target_kw == 0:
        return None
    if asset.kind != AssetKind.BATTERY:
        return f"Only batteries take a discharge setpoint; {asset.uid} is {asset.kind}."
    if asset.status != AssetStatus.ACTIVE:
        return f"{asset.uid} is {asset.status}: only 0 kW may be commanded."
    fresh_since = now - timedelta(seconds=policy.max_telemetry_age_s)
    if asset.last_telemetry_at is None or asset.last_telemetry_at < fresh_since:
        return (
            f"{asset.uid} has no telemetry in the last {policy.max_telemetry_age_s} s."
        )
    avail = float(
        rules.available_kw(
            max_discharge_kw=np.array([asset.max_discharge_power]),
            energy_capacity_kwh=np.array([asset.energy_capacity_kwh]),
            state_of_charge_pct=np.array([asset.state_of_charge]),
            reserve_pct=np.array([asset.min_soc_reserve]),
            ramp_kw_per_s=np.array([asset.ramp_limit_kw_per_s or np.nan]),
            target_kw=np.array([asset.target_output_kw]),
            horizon_h=policy.energy_horizon_h,
            cycle_s=policy.cycle_s,
        )[0]
    )
    if target_kw > avail:
        return (
            f"{target_kw:g} kW is more than {asset.uid} can give now: {avail:.2f} kW "
            f"(max discharge power {asset.max_discharge_power:g} kW, state of charge "
            f"{asset.state_of_charge:g} % against a reserve of "
            f"{asset.min_soc_reserve:g} %, over {policy.energy_horizon_h:g} h)."
        )
    return None


def setpoint_command_manual(
    *, asset_id: int, target_kw: float, user: User | None, now: datetime | None = None
) -> DERAsset:
    """Command one asset by hand, within the cycle's limits, audited with the user.

    The setpoint holds (the cycle leaves the asset alone) until the policy's
    manual lifetime runs out; then it returns to 0. A value beyond the asset's
    limits raises ValidationError and changes nothing.
    """
    now = now or timezone.now()
    with transaction.atomic():
        substation_id = DERAsset.objects.values_list("substation_id", flat=True).get(
            pk=asset_id
        )
        substation_lock_wait(substation_id=substation_id)
        asset = (
            DERAsset.objects.select_for_update(of=("self",))
            .select_related("substation__dispatch_policy")
            .get(pk=asset_id)
        )
        policy = policy_for(substation=asset.substation)
        error = setpoint_limit_error(
            asset=asset, target_kw=target_kw, policy=policy, now=now
        )
        if error:
            raise ValidationError({"target_output_kw": error})
        expires = now + timedelta(seconds=policy.manual_setpoint_lifetime_s)
        setpoints_write(
            pks=np.array([asset.pk]),
            previous_kw=np.array([asset.target_output_kw]),
            new_kw=np.array([float(target_kw)]),
            expires_at=[expires],
            source=[SetpointSource.MANUAL],
            reason=[SetpointReason.MANUAL],
            now=now,
            user=user,
        )
    asset.refresh_from_db()
    return asset


# --- Policies -----------------------------------------------------------------------

POLICY_FIELDS = [
    "enabled",
    "cycle_s",
    "deadband_hz",
    "droop",
    "volt_watt_start_pu",
    "volt_watt_end_pu",
    "max_reading_age_s",
    "max_telemetry_age_s",
    "energy_horizon_h",
    "min_change_kw",
    "setpoint_lifetime_s",
    "manual_setpoint_lifetime_s",
    "resolve_hold_s",
]


def policy_update(
    *, substation: Substation, user: User | None, changes: dict[str, Any]
) -> DispatchPolicy:
    """Change a substation's policy (creating it if needed), audited field by field.

    Validated as a whole against the policy's constraints; an invalid change raises
    ValidationError and changes nothing. A change that changes nothing is not audited.
    """
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationError(f"Not policy settings: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        policy = DispatchPolicy.objects.select_for_update().filter(
            substation=substation
        ).first() or DispatchPolicy(substation=substation)
        diff = {
            name: [getattr(policy, name), value]
            for name, value in changes.items()
            if getattr(policy, name) != value
        }
        for name, (_, value) in diff.items():
            setattr(policy, name, value)
        policy.full_clean()
        if policy._state.adding:
            policy.save()
        elif diff:
            policy.save(update_fields=[*diff, "updated_at"])
        if diff:
            DispatchPolicyChange.objects.create(
                policy=policy, changed_by=user, changes=diff
            )
    return policy


# --- Fan-out --------------------------------------------------------------------------


def cycles_due(*, now: datetime | None = None) -> list[tuple[int, datetime, int]]:
    """Claim the current slot of every substation whose cycle is due.

    Every substation gets a policy with the defaults if it has none. A substation
    is due when its slot has not been claimed yet; the claim is one UPDATE per
    distinct cycle period, so two fan-outs in one slot enqueue each cycle once.
    """
    now = now or timezone.now()
    missing = Substation.objects.filter(dispatch_policy__isnull=True)
    DispatchPolicy.objects.bulk_create(
        [DispatchPolicy(substation=s) for s in missing.only("pk")],
        ignore_conflicts=True,
    )
    due: list[tuple[int, datetime, int]] = []
    periods = DispatchPolicy.objects.filter(enabled=True).values_list(
        "cycle_s", flat=True
    )
    for cycle_s in set(periods):
        slot_at = slot_of(at=now, cycle_s=cycle_s)
        claim = DispatchPolicy.objects.filter(enabled=True, cycle_s=cycle_s).exclude(
            enqueued_slot_at__gte=slot_at
        )
        with transaction.atomic():
            ids = list(
                claim.select_for_update().values_list("substation_id", flat=True)
            )
            claim.filter(substation_id__in=ids).update(enqueued_slot_at=slot_at)
        due.extend((substation_id, slot_at, cycle_s) for substation_id in ids)
    return due


def cycle_batches(
    *, due: list[tuple[int, datetime, int]], size: int
) -> list[tuple[datetime, int, list[int]]]:
    """`cycles_due`'s claims as (slot, cycle_s, substation ids) batches of `size`."""
    by_slot: dict[tuple[datetime, int], list[int]] = {}
    for substation_id, slot_at, cycle_s in due:
        by_slot.setdefault((slot_at, cycle_s), []).append(substation_id)
    return [
        (slot_at, cycle_s, ids[start : start + size])
        for (slot_at, cycle_s), ids in by_slot.items()
        for start in range(0, len(ids), size)
    ]
