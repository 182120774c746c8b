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
from dispatch.explain import run_explanation
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

SAME_KW = rules.SAME_KW


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

    Rows whose value does not change only get their expiry (and source)
    written; a hold's refresh (reason `refresh`) is audited too, so that the
    audit integrates to the energy really in force, and so is every manual
    command (reason `manual`), a zero or an unchanged value included: it takes
    the asset out of automatic dispatch for its lifetime, and the audit names
    who did. Owners of batteries that start discharging get their SMS written
    to the outbox (step 10). Returns the number changed. The caller holds the
    substation's lock and has checked every limit.
    """
    if not len(pks):
        return 0
    if not np.all(np.isfinite(new_kw) & (new_kw >= 0)):
        # A bug upstream, never a value to send: the cycle rolls back whole.
        raise ValueError(f"refusing non-finite or negative setpoints: {new_kw}")
    update_rows(
        model=DERAsset,
        pks=[int(pk) for pk in pks],
        columns={
            "target_output_kw": [float(kw) for kw in new_kw],
            "setpoint_expires_at": expires_at,
            "setpoint_source": source,
        },
    )
    changed_mask = setpoints_changed(previous_kw=previous_kw, new_kw=new_kw)
    commanded = np.isin(reason, [SetpointReason.REFRESH, SetpointReason.MANUAL])
    audited = np.flatnonzero(changed_mask | commanded)
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
            for i in audited
        ],
    )
    return int(changed_mask.sum())


# --- The cycle ------------------------------------------------------------------


@dataclass
class Decision:
    """What the cycle decided for a fleet: the new targets, which of them are
    commanded now (their expiry is set anew; a hold refreshes them), and why.
    A target that changes without being commanded now (lowered to its cap while
    nothing new is commanded) keeps the expiry it had."""

    outcome: str
    new_kw: np.ndarray
    renew: np.ndarray
    detail: str = ""


def fleet_caps(
    *, fleet: Fleet, policy: DispatchPolicy, voltage_pu: float | None
) -> rules.Caps:
    """avail_i and cap_i of every battery of the fleet (section 3), eligible or
    not. Volt-watt follows the newest reading, stale or not (it only lowers)."""
    volt_watt = (
        1.0
        if voltage_pu is None
        else rules.volt_watt_factor(
            voltage_pu=voltage_pu,
            start_pu=policy.volt_watt_start_pu,
            end_pu=policy.volt_watt_end_pu,
        )
    )
    return rules.caps_kw(
        max_discharge_kw=fleet.max_discharge_kw,
        energy_capacity_kwh=fleet.energy_capacity_kwh,
        state_of_charge_pct=fleet.state_of_charge_pct,
        reserve_pct=fleet.reserve_pct,
        ramp_kw_per_s=fleet.ramp_kw_per_s,
        target_kw=fleet.target_kw,
        horizon_h=policy.energy_horizon_h,
        cycle_s=policy.cycle_s,
        volt_watt=volt_watt,
    )


def safe_default_kw(*, fleet: Fleet, cap: np.ndarray) -> np.ndarray:
    """Targets that command nothing new.

    Eligible and manual setpoints stay, lowered to their battery's cap (a
    battery draining toward its reserve, or under volt-watt, is never held
    above it); every other asset goes to 0. Nothing rises.
    """
    return np.where(
        fleet.eligible | fleet.manual,
        rules.held_kw(in_force_kw=fleet.target_kw, cap_kw=cap),
        0.0,
    )


def stale_why(*, status: GridStatus | None, policy: DispatchPolicy) -> str:
    """Why the grid status cannot be acted on, or "" if it can."""
    if status is None:
        return "no grid reading yet"
    if status.is_stale(max_age_s=policy.max_reading_age_s):
        return (
            f"latest reading is {status.age_s:.0f} s old "
            f"(limit {policy.max_reading_age_s} s)"
        )
    return ""


def law_record(*, run: DispatchRun, law: rules.Law) -> None:
    """The terms of the law's decision, on the run."""
    run.load_need_kw = law.load_need_kw
    run.over_frequency_kw = law.over_frequency_kw
    run.frequency_response_kw = float(law.droop_kw.sum())
    run.requirement_kw = law.requirement_kw
    run.imbalance_kw = law.imbalance_kw
    run.command_kw = law.command_kw


def decide(
    *,
    run: DispatchRun,
    status: GridStatus | None,
    fleet: Fleet,
    caps: rules.Caps,
    substation: Substation,
    policy: DispatchPolicy,
) -> Decision:
    """Sections 4-5: requirement, imbalance, command, targets and hysteresis,
    recorded on `run`. Every target is within [0, cap_i]."""
    keep = safe_default_kw(fleet=fleet, cap=caps.cap)
    eligible = fleet.eligible
    nothing = np.zeros(len(keep), dtype=bool)
    run.command_kw = float(keep[eligible].sum())
    if not policy.enabled:
        return Decision(Outcome.DISABLED, keep, nothing, "automatic dispatch is off")
    stale = stale_why(status=status, policy=policy)
    if status is None or stale:
        return Decision(Outcome.STALE, keep, nothing, stale)
    law = rules.control_law(
        cap_kw=caps.cap[eligible],
        rated_kw=fleet.max_discharge_kw[eligible],
        load_kw=status.load_kw,
        import_capacity_kw=substation.import_capacity_kw,
        manual_kw=run.manual_kw,
        frequency_hz=status.frequency_hz,
        nominal_hz=substation.nominal_frequency_hz,
        deadband_hz=policy.deadband_hz,
        droop=policy.droop,
    )
    law_record(run=run, law=law)
    if not eligible.any():
        return Decision(Outcome.NO_ASSETS, keep, nothing, "no dispatchable battery")
    deficit = law.imbalance_kw > rules.SAME_KW
    held = float(keep[eligible].sum())
    if rules.holds(
        command_kw=law.command_kw, held_kw=held, min_change_kw=policy.min_change_kw
    ):
        run.held = True
        run.command_kw = held
        return Decision(
            Outcome.INSUFFICIENT if deficit else Outcome.UNCHANGED,
            keep,
            eligible & (keep > 0),
            f"computed {law.command_kw:.2f} kW is within {policy.min_change_kw:g} kW "
            f"of the {held:.2f} kW in force: held",
        )
    new = np.where(fleet.manual, keep, 0.0)
    new[eligible] = law.targets_kw
    return Decision(
        Outcome.INSUFFICIENT if deficit else Outcome.DISPATCHED,
        new,
        eligible & (new > 0),
        f"deficit of {law.imbalance_kw:.2f} kW" if deficit else "",
    )


def run_start(
    *,
    substation: Substation,
    slot_at: datetime,
    now: datetime,
    status: GridStatus | None,
    fleet: Fleet,
    caps: rules.Caps,
) -> DispatchRun:
    """The run of a cycle with what it saw: the grid and the fleet's capacity."""
    eligible = fleet.eligible
    run = DispatchRun(
        substation=substation,
        slot_at=slot_at,
        started_at=now,
        assets_active=int(eligible.sum()),
        capacity_nameplate_kw=float(fleet.max_discharge_kw[eligible].sum()),
        capacity_available_kw=float(caps.avail[eligible].sum()),
        capacity_kw=float(caps.cap[eligible].sum()),
        limited_by_energy=int(caps.by_energy[eligible].sum()),
        limited_by_ramp=int(caps.by_ramp[eligible].sum()),
        limited_by_volt_watt=int(caps.by_volt_watt[eligible].sum()),
        manual_kw=float(safe_default_kw(fleet=fleet, cap=caps.cap)[fleet.manual].sum()),
        volt_watt_factor=caps.volt_watt,
    )
    if status is not None:
        run.frequency_hz = status.frequency_hz
        run.voltage_pu = status.voltage_pu
        run.load_kw = status.load_kw
        run.reading_at = status.measured_at
        run.reading_age_s = status.age_s
    return run


def setpoint_expiries(
    *,
    pks: np.ndarray,
    new_kw: np.ndarray,
    renew: np.ndarray,
    expires: datetime,
) -> list[datetime | None]:
    """Each written setpoint's expiry: `expires` if commanded now, none at 0 kW,
    and the expiry it had for a setpoint only lowered (one query, only then)."""
    kept = np.flatnonzero(~renew & (new_kw > 0))
    had: dict[int, datetime | None] = {}
    if len(kept):
        had = dict(
            DERAsset.objects.filter(pk__in=pks[kept].tolist()).values_list(
                "pk", "setpoint_expires_at"
            )
        )
    return [
        expires if fresh else (had.get(int(pk)) if kw > 0 else None)
        for pk, kw, fresh in zip(
            pks.tolist(), new_kw.tolist(), renew.tolist(), strict=True
        )
    ]


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
    caps = fleet_caps(
        fleet=fleet,
        policy=policy,
        voltage_pu=status.voltage_pu if status is not None else None,
    )
    run = run_start(
        substation=substation,
        slot_at=slot_at,
        now=now,
        status=status,
        fleet=fleet,
        caps=caps,
    )
    decision = decide(
        run=run,
        status=status,
        fleet=fleet,
        caps=caps,
        substation=substation,
        policy=policy,
    )
    run.outcome = decision.outcome
    run.detail = decision.detail
    # A target too small to be a command is 0, so that no residue of rounding
    # stays "discharging"; a difference too small to be a new command (and to
    # be audited) is not written: the value in force stays, a hold refreshes it.
    decided = np.where(decision.new_kw > SAME_KW, decision.new_kw, 0.0)
    changed = setpoints_changed(previous_kw=fleet.target_kw, new_kw=decided)
    new_kw = np.where(changed, decided, fleet.target_kw)
    renew = decision.renew & (new_kw > SAME_KW)
    write = changed | renew
    run.assets_commanded = int((fleet.eligible & (new_kw > SAME_KW)).sum())
    run.setpoints_changed = int(changed.sum())
    run.duration_ms = (time.perf_counter() - started) * 1000
    run.save()

    refreshed = (renew & ~changed)[write]
    setpoints_write(
        pks=fleet.pks[write],
        previous_kw=fleet.target_kw[write],
        new_kw=new_kw[write],
        expires_at=setpoint_expiries(
            pks=fleet.pks[write],
            new_kw=new_kw[write],
            renew=renew[write],
            expires=now + timedelta(seconds=policy.setpoint_lifetime_s),
        ),
        source=[
            SetpointSource.MANUAL if manual else SetpointSource.AUTO
            for manual in fleet.manual[write]
        ],
        reason=[
            SetpointReason.REFRESH
            if refresh
            else SetpointReason.CYCLE
            if dispatched
            else SetpointReason.INELIGIBLE
            for refresh, dispatched in zip(
                refreshed, (fleet.eligible | fleet.manual)[write], strict=True
            )
        ],
        now=now,
        run=run,
    )
    if run.outcome != Outcome.DISABLED:
        intervention_follow(
            run=run,
            substation=substation,
            previous_kw=float(fleet.target_kw[~fleet.manual].sum()),
            now=now,
        )
    evaluated = run.outcome not in (Outcome.STALE, Outcome.DISABLED)
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
        "capacity_kw",
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
        "why": run_explanation(run),
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

    The cycle's own limits: a battery, active, reporting, and at most its cap
    (WMax, energy above reserve over the horizon, ramp from the setpoint in
    force, volt-watt at the substation's newest voltage).
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
    status = grid_status(substation_id=asset.substation_id, now=now)
    ramp = asset.ramp_limit_kw_per_s
    caps = fleet_caps(
        fleet=Fleet(
            pks=np.array([asset.pk]),
            eligible=np.array([True]),
            manual=np.array([False]),
            max_discharge_kw=np.array([asset.max_discharge_power]),
            energy_capacity_kwh=np.array([asset.energy_capacity_kwh]),
            state_of_charge_pct=np.array([asset.state_of_charge]),
            reserve_pct=np.array([asset.min_soc_reserve]),
            ramp_kw_per_s=np.array([np.nan if ramp is None else ramp]),
            target_kw=np.array([asset.target_output_kw]),
        ),
        policy=policy,
        voltage_pu=status.voltage_pu if status is not None else None,
    )
    cap = float(caps.cap[0])
    if target_kw <= cap:
        return None
    why = (
        f"volt-watt at {status.voltage_pu:.3f} pu"
        if status is not None and caps.by_volt_watt[0]
        else f"a ramp limit of {ramp:g} kW/s from {asset.target_output_kw:g} kW"
        if caps.by_ramp[0]
        else f"state of charge {asset.state_of_charge:g} % against a reserve of "
        f"{asset.min_soc_reserve:g} %, over {policy.energy_horizon_h:g} h"
        if caps.by_energy[0]
        else f"max discharge power {asset.max_discharge_power:g} kW"
    )
    return (
        f"{target_kw:g} kW is more than {asset.uid} can give now: {cap:.2f} kW ({why})."
    )


def setpoint_command_manual(
    *, asset_id: int, target_kw: float, user: User | None, now: datetime | None = None
) -> DERAsset:
    """Command one asset by hand, within the cycle's limits, audited with the user.

    The setpoint holds (the cycle leaves the asset alone) until the policy's
    manual lifetime runs out; then it returns to 0. Every command is audited, 0 kW
    and the value already in force included. A value beyond the asset's limits
    raises ValidationError and changes nothing; -0.0 is stored as 0.0.
    """
    now = now or timezone.now()
    target_kw = float(target_kw) + 0.0  # -0.0 + 0.0 is 0.0: no signed zero stored
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
            new_kw=np.array([target_kw]),
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
