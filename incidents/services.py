"""Incidents, active alerts and technician tasks (workflow steps 7, 8 and 14).

`faults_handle` and `incidents_evaluate` run inside the stabilisation cycle,
under the substation's lock and in the run's transaction. The task services
are the maintenance team's doors: each checks the user and the task's state.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractUser, AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from assets.models import AssetStatus, DERAsset, Severity
from dermgmt.locks import substation_lock_wait
from grid.selectors import ReadingValues, datetime_from_db, readings_after
from incidents import rules
from incidents.models import (
    LIVE,
    PENDING_TASK,
    ActiveAlert,
    GridIncident,
    IncidentKind,
    IncidentSeverity,
    IncidentStatus,
    ReadingWatermark,
    TaskPriority,
    TaskStatus,
    TechnicianTask,
)
from incidents.selectors import faults_unhandled

logger = logging.getLogger(__name__)

User = AbstractUser | AnonymousUser

PRIORITY_BY_SEVERITY = {
    Severity.CRITICAL: TaskPriority.URGENT,
    Severity.MAJOR: TaskPriority.HIGH,
    Severity.WARNING: TaskPriority.NORMAL,
    Severity.INFO: TaskPriority.LOW,
}
DUE_AFTER = {
    TaskPriority.URGENT: timedelta(hours=4),
    TaskPriority.HIGH: timedelta(hours=24),
    TaskPriority.NORMAL: timedelta(days=3),
    TaskPriority.LOW: timedelta(days=7),
}


# --- Incidents and the active-alerts list (steps 8 and 14) --------------------------

# What an evaluation reads at most: the readings of the last hold window (at
# least of the policy's max_reading_age_s), and never more than this many rows,
# newest first. Older unevaluated readings (a long outage of the cycles) are
# skipped, and the first reading read starts after a blind spell.
READINGS_PER_EVALUATION = 2000
# The incident fields an evaluation moves (and saves).
FOLLOWED_FIELDS = [
    "status",
    "cleared_at",
    "resolved_at",
    "archived_at",
    "severity",
    "worst_value",
    "description",
]
# Kinds judged only on a fresh reading: a blind cycle restarts their hold.
HELD_KINDS = (IncidentKind.VOLTAGE, IncidentKind.FREQUENCY, IncidentKind.INSUFFICIENT)


def incident_open(
    *,
    substation_id: int,
    kind: str,
    severity: int,
    value: float,
    description: str,
    now: datetime,
) -> GridIncident:
    """A new live incident, and its row on the active-alerts list."""
    incident = GridIncident.objects.create(
        substation_id=substation_id,
        kind=kind,
        severity=severity,
        opened_at=now,
        worst_value=value,
        description=description,
    )
    ActiveAlert.objects.create(incident=incident, raised_at=now)
    logger.warning("incident opened at substation %s: %s", substation_id, description)
    return incident


def incident_archive(*, incident: GridIncident, resolved_at: datetime, now: datetime):
    """Step 14: off the active-alerts list, kept as history."""
    incident.status = IncidentStatus.ARCHIVED
    incident.resolved_at = resolved_at
    incident.archived_at = now
    incident.save(update_fields=["status", "resolved_at", "archived_at"])
    ActiveAlert.objects.filter(incident=incident).delete()
    logger.info("incident %s archived", incident.pk)


def _followed(incident: GridIncident) -> tuple:
    return tuple(getattr(incident, field) for field in FOLLOWED_FIELDS)


def incident_follow(
    *,
    incident: GridIncident,
    finding: rules.Finding,
    at: datetime,
    continues: bool,
    nominal_value: float,
    hold_s: float,
    now: datetime,
) -> bool:
    """Move a live incident with one finding seen at `at`, in memory (the caller
    saves); True if it changed.

    Nominal starts the hold (the incident is `resolved`, `cleared_at` the start)
    or, if this observation `continues` the one before it, carries it on; once
    the hold spans `hold_s` the incident is archived, resolved at the hold's
    start. A nominal observation after a blind spell restarts the hold: only
    observed time counts. Anything else, even a mere deviation, stops the hold
    and keeps the incident open; a worse value raises its severity and worst
    value, never lowers them.
    """
    before = _followed(incident)
    if finding.nominal:
        if incident.cleared_at is None or not continues:
            incident.cleared_at = at
            incident.status = IncidentStatus.RESOLVED
        if (at - incident.cleared_at).total_seconds() >= hold_s:
            incident.status = IncidentStatus.ARCHIVED
            incident.resolved_at = incident.cleared_at
            incident.archived_at = now
    else:
        incident.cleared_at = None
        incident.status = IncidentStatus.OPEN
        if finding.severity is not None:
            incident.severity = max(incident.severity, finding.severity)
            if rules.worse(
                finding.kind, finding.value, incident.worst_value, nominal=nominal_value
            ):
                incident.worst_value = finding.value
                incident.description = finding.description
    return _followed(incident) != before


class IncidentBook:
    """The live incidents of one substation through one evaluation: moved in
    memory finding by finding, then written once (one statement per changed
    incident, whatever the number of readings)."""

    def __init__(
        self,
        *,
        substation_id: int,
        live: list[GridIncident],
        nominal_values: dict[str, float],
        hold_s: float,
        now: datetime,
    ) -> None:
        self.substation_id = substation_id
        self.live = {incident.kind: incident for incident in live}
        self.nominal_values = nominal_values
        self.hold_s = hold_s
        self.now = now
        self.changed: dict[int, GridIncident] = {}  # rows already stored, by pk
        self.created: list[GridIncident] = []

    def see(self, finding: rules.Finding, *, at: datetime, continues: bool) -> None:
        """One finding, observed at `at`, on the live incident of its kind."""
        incident = self.live.get(finding.kind)
        if incident is None:
            if finding.severity is not None:
                self._open(finding, severity=finding.severity, at=at)
            return
        if incident_follow(
            incident=incident,
            finding=finding,
            at=at,
            continues=continues,
            nominal_value=self.nominal_values.get(finding.kind, 0.0),
            hold_s=self.hold_s,
            now=self.now,
        ):
            self._mark(incident)
        if incident.status == IncidentStatus.ARCHIVED:
            del self.live[finding.kind]

    def blind(self) -> None:
        """A cycle without a fresh reading: every running hold restarts (it
        starts again with the next nominal observation)."""
        for kind in HELD_KINDS:
            incident = self.live.get(kind)
            if incident is not None and incident.cleared_at is not None:
                incident.cleared_at = None
                self._mark(incident)

    def _open(self, finding: rules.Finding, *, severity: int, at: datetime) -> None:
        incident = GridIncident(
            substation_id=self.substation_id,
            kind=finding.kind,
            severity=severity,
            opened_at=at,
            worst_value=finding.value,
            description=finding.description,
        )
        self.live[finding.kind] = incident
        self.created.append(incident)

    def _mark(self, incident: GridIncident) -> None:
        if incident.pk is not None:
            self.changed[incident.pk] = incident

    def save(self) -> list[GridIncident]:
        """Write what changed: archives first, so that a new incident of the
        same kind never meets a live one; returns the incidents written."""
        for incident in self.changed.values():
            incident.save(update_fields=FOLLOWED_FIELDS)
        archived = [
            pk
            for pk, incident in self.changed.items()
            if incident.status == IncidentStatus.ARCHIVED
        ]
        if archived:
            ActiveAlert.objects.filter(incident_id__in=archived).delete()
        if self.created:
            GridIncident.objects.bulk_create(self.created)
            ActiveAlert.objects.bulk_create(
                ActiveAlert(incident=incident, raised_at=self.now)
                for incident in self.created
                if incident.status != IncidentStatus.ARCHIVED
            )
        for incident in self.created:
            logger.warning(
                "incident opened at substation %s: %s",
                self.substation_id,
                incident.description,
            )
        for pk in archived:
            logger.info("incident %s archived", pk)
        return [*self.changed.values(), *self.created]


LIVE_SQL = """
SELECT i.*, w.evaluated_until AS watermark_at
  FROM (SELECT %s AS substation_id) s
  LEFT JOIN {watermark} w ON w.substation_id = s.substation_id
  LEFT JOIN {incident} i
    ON i.substation_id = s.substation_id AND i.status IN (%s, %s)
"""


def incidents_live(*, substation_id: int) -> tuple[list[GridIncident], datetime | None]:
    """The live incidents of a substation and its reading watermark, in one
    statement (the substation on the left: the watermark comes back even when
    no incident is live). In SQL: it runs in every cycle, and the ORM's
    compilation of the filter cost more than the query."""
    sql = LIVE_SQL.format(
        watermark=ReadingWatermark._meta.db_table,
        incident=GridIncident._meta.db_table,
    )
    params = [substation_id, IncidentStatus.OPEN, IncidentStatus.RESOLVED]
    rows = list(GridIncident.objects.raw(sql, params))
    watermark = getattr(rows[0], "watermark_at", None)
    live = [incident for incident in rows if incident.pk is not None]
    return live, None if watermark is None else datetime_from_db(watermark)


def _own_reading(
    observation: rules.Observation, *, measured_at: datetime
) -> ReadingValues | None:
    """The cycle's fresh reading as the observation carries it."""
    o = observation
    if not o.fresh or o.voltage_pu is None or o.frequency_hz is None:
        return None
    return ReadingValues(measured_at, o.voltage_pu, o.frequency_hz)


def readings_unevaluated(
    *,
    substation_id: int,
    observation: rules.Observation,
    watermark: datetime | None,
    window_s: float,
    now: datetime,
) -> list[tuple[ReadingValues, bool]]:
    """The readings measured after the watermark, oldest first, each with
    whether it continues the observation of the one before it.

    No query when the cycle's newest reading is not newer than the watermark.
    Reads the last `window_s` at most; the cycle's own reading counts even if it
    was never stored (a caller that only has the observation).
    """
    if observation.reading_age_s is None:
        return []  # the substation never reported
    newest_at = now - timedelta(seconds=observation.reading_age_s)
    if watermark is not None and newest_at <= watermark:
        return []
    floor = now - timedelta(seconds=window_s)
    after = watermark if watermark is not None and watermark >= floor else floor
    readings = readings_after(
        substation_id=substation_id,
        after=after,
        until=now,
        limit=READINGS_PER_EVALUATION,
    )
    # The predecessor of the first reading: the watermark, unless readings
    # between the two were skipped (an outage longer than the window, a cut).
    whole = after == watermark and len(readings) < READINGS_PER_EVALUATION
    previous_at = watermark if whole else None
    own = _own_reading(observation, measured_at=newest_at)
    if own is not None and not (readings and readings[-1].measured_at >= newest_at):
        readings.append(own)
    judged = []
    for reading in readings:
        continues = rules.continues(
            previous_at, reading.measured_at, max_age_s=observation.max_reading_age_s
        )
        judged.append((reading, continues))
        previous_at = reading.measured_at
    return judged


def watermark_advance(*, substation_id: int, until: datetime) -> None:
    """The substation's readings up to `until` are evaluated (one upsert)."""
    ReadingWatermark.objects.bulk_create(
        [ReadingWatermark(substation_id=substation_id, evaluated_until=until)],
        update_conflicts=True,
        unique_fields=["substation"],
        update_fields=["evaluated_until"],
    )


def incidents_evaluate(
    *,
    substation_id: int,
    observation: rules.Observation,
    hold_s: float,
    now: datetime,
) -> list[GridIncident]:
    """Open, worsen, hold and archive a substation's incidents from one cycle.

    Every grid reading measured since the last evaluation is judged, oldest
    first, not only the newest: a bad reading stored between two cycles opens,
    keeps or worsens its incident and restarts the hold. The hold counts only
    observed time, between readings no more than `max_reading_age_s` apart; a
    longer gap or a cycle without a fresh reading restarts it. Voltage and
    frequency incidents carry the readings' times (opened, cleared, resolved);
    the others the cycle's.

    One statement when no reading is new (live incidents and watermark); three
    when one is (the new readings, the watermark's move), whatever their number;
    plus one per changed incident. Never two live incidents of one kind (also a
    database constraint). Returns the incidents that changed. Hardware faults
    follow their tasks instead (`faults_handle`, `task_close`).
    """
    live, watermark = incidents_live(substation_id=substation_id)
    book = IncidentBook(
        substation_id=substation_id,
        live=live,
        nominal_values={
            IncidentKind.VOLTAGE: 1.0,
            IncidentKind.FREQUENCY: observation.nominal_frequency_hz,
        },
        hold_s=hold_s,
        now=now,
    )
    readings = readings_unevaluated(
        substation_id=substation_id,
        observation=observation,
        watermark=watermark,
        window_s=max(hold_s, observation.max_reading_age_s),
        now=now,
    )
    for reading, continues in readings:
        for finding in rules.reading_findings(
            voltage_pu=reading.voltage_pu,
            frequency_hz=reading.frequency_hz,
            nominal_hz=observation.nominal_frequency_hz,
        ):
            book.see(finding, at=reading.measured_at, continues=continues)
    if not observation.fresh:
        book.blind()
    for finding in rules.cycle_findings(observation):
        book.see(finding, at=now, continues=True)
    if readings:
        watermark_advance(
            substation_id=substation_id, until=readings[-1][0].measured_at
        )
    return book.save()


# --- Hardware faults and technician tasks (step 7) ------------------------------------


def hardware_incident_refresh(
    *, substation_id: int, now: datetime
) -> GridIncident | None:
    """The substation's hardware-fault incident, in step with its pending tasks.

    Opened with the first pending task; its worst value is the most assets with
    a pending task at once; archived when the last task closes.
    """
    incident = GridIncident.objects.filter(
        LIVE, substation_id=substation_id, kind=IncidentKind.HARDWARE
    ).first()
    pending = TechnicianTask.objects.filter(
        asset__substation_id=substation_id, status__in=PENDING_TASK
    ).select_related("asset", "error_code")
    tasks = list(pending.order_by("asset__uid"))
    if not tasks:
        if incident is not None:
            incident_archive(incident=incident, resolved_at=now, now=now)
        return None
    assets = len({task.asset_id for task in tasks})
    description = (
        f"{assets} asset(s) out of service with critical errors: "
        + ", ".join(f"{task.asset.uid} ({task.error_code.code})" for task in tasks[:10])
    )
    if incident is None:
        return incident_open(
            substation_id=substation_id,
            kind=IncidentKind.HARDWARE,
            severity=IncidentSeverity.HIGH,
            value=assets,
            description=description,
            now=now,
        )
    incident.worst_value = max(incident.worst_value, assets)
    incident.description = description
    incident.save(update_fields=["worst_value", "description"])
    return incident


def faults_handle(*, substation_id: int, now: datetime) -> list[TechnicianTask]:
    """Step 7: assets reporting a critical error go to `fault`, each gets one task.

    Runs in the cycle before the fleet is read, so a faulted battery is out of
    this very cycle's dispatch. One query when nothing is wrong. A task exists at
    most once per asset and error code while pending (also a database
    constraint); the asset comes back only through `task_asset_return`.
    """
    faults = faults_unhandled(substation_id=substation_id)
    if not faults:
        return []
    DERAsset.objects.filter(
        pk__in=[fault.asset_id for fault in faults], status=AssetStatus.ACTIVE
    ).update(status=AssetStatus.FAULT, updated_at=now)
    tasks = TechnicianTask.objects.bulk_create(
        [
            TechnicianTask(
                asset_id=fault.asset_id,
                error_code_id=fault.error_code_id,
                priority=PRIORITY_BY_SEVERITY[Severity(fault.severity)],
                due_at=now + DUE_AFTER[PRIORITY_BY_SEVERITY[Severity(fault.severity)]],
                created_at=now,
            )
            for fault in faults
        ]
    )
    incident = hardware_incident_refresh(substation_id=substation_id, now=now)
    TechnicianTask.objects.filter(pk__in=[task.pk for task in tasks]).update(
        incident=incident
    )
    logger.warning(
        "substation %s: %d asset(s) faulted, technician task(s) opened",
        substation_id,
        len(tasks),
    )
    return tasks


def _task_for_update(task_id: int) -> TechnicianTask:
    """The task, locked, after its substation's lock: a task's changes touch the
    hardware incident and the asset, which the cycle also writes."""
    substation_id = TechnicianTask.objects.values_list(
        "asset__substation_id", flat=True
    ).get(pk=task_id)
    substation_lock_wait(substation_id=substation_id)
    return (
        TechnicianTask.objects.select_for_update(of=("self",))
        .select_related("asset")
        .get(pk=task_id)
    )


def _require(user: User, permission: str) -> None:
    if not user.has_perm(permission):
        raise PermissionDenied("You may not work technician tasks.")


def _require_state(task: TechnicianTask, *allowed: str) -> None:
    if task.status not in allowed:
        names = " or ".join(TaskStatus(status).label.lower() for status in allowed)
        raise ValidationError(
            f"Task {task.pk} is {task.get_status_display().lower()}; "
            f"this needs it {names}."
        )


def _require_assignee(task: TechnicianTask, user: User) -> None:
    if task.assignee_id != user.pk:
        raise PermissionDenied(f"Task {task.pk} is assigned to someone else.")


@transaction.atomic
def task_claim(*, task_id: int, user: User, now: datetime | None = None):
    """Open -> assigned to `user`."""
    _require(user, "incidents.work_techniciantask")
    task = _task_for_update(task_id)
    _require_state(task, TaskStatus.OPEN)
    task.status = TaskStatus.ASSIGNED
    task.assignee_id = user.pk
    task.assigned_at = now or timezone.now()
    task.save(update_fields=["status", "assignee", "assigned_at"])
    return task


@transaction.atomic
def task_start(*, task_id: int, user: User, now: datetime | None = None):
    """Assigned -> in progress, by its assignee."""
    _require(user, "incidents.work_techniciantask")
    task = _task_for_update(task_id)
    _require_state(task, TaskStatus.ASSIGNED)
    _require_assignee(task, user)
    task.status = TaskStatus.IN_PROGRESS
    task.started_at = now or timezone.now()
    task.save(update_fields=["status", "started_at"])
    return task


def task_close(
    *, task: TechnicianTask, status: str, user: User, now: datetime
) -> TechnicianTask:
    """Done or cancelled; the hardware incident follows. The asset stays in fault."""
    task.status = status
    task.closed_at = now
    task.closed_by_id = user.pk
    task.save(update_fields=["status", "closed_at", "closed_by"])
    hardware_incident_refresh(substation_id=task.asset.substation_id, now=now)
    return task


@transaction.atomic
def task_done(*, task_id: int, user: User, now: datetime | None = None):
    """In progress -> done, by its assignee."""
    _require(user, "incidents.work_techniciantask")
    task = _task_for_update(task_id)
    _require_state(task, TaskStatus.IN_PROGRESS)
    _require_assignee(task, user)
    return task_close(
        task=task, status=TaskStatus.DONE, user=user, now=now or timezone.now()
    )


@transaction.atomic
def task_cancel(*, task_id: int, user: User, now: datetime | None = None):
    """Any pending task -> cancelled (operators: a false alarm, a duplicate)."""
    _require(user, "incidents.cancel_techniciantask")
    task = _task_for_update(task_id)
    _require_state(task, *PENDING_TASK)
    return task_close(
        task=task, status=TaskStatus.CANCELLED, user=user, now=now or timezone.now()
    )


def task_asset_return(
    *, task_id: int, user: User, now: datetime | None = None
) -> DERAsset:
    """Put a done task's asset back in service: the one way out of `fault`.

    Refused while the asset has another pending task or its newest telemetry
    still reports a critical error (the next cycle would fault it again).
    """
    _require(user, "incidents.work_techniciantask")
    now = now or timezone.now()
    with transaction.atomic():
        task = _task_for_update(task_id)
        asset = (
            DERAsset.objects.select_for_update(of=("self",))
            .select_related("last_error_code")
            .get(pk=task.asset_id)
        )
        _require_state(task, TaskStatus.DONE)
        if asset.status != AssetStatus.FAULT:
            raise ValidationError(f"{asset.uid} is {asset.status}, not in fault.")
        others = asset.technician_tasks.filter(status__in=PENDING_TASK)
        if others.exists():
            raise ValidationError(
                f"{asset.uid} has other pending tasks: finish or cancel them first."
            )
        code = asset.last_error_code
        if code is not None and code.severity == Severity.CRITICAL:
            raise ValidationError(
                f"{asset.uid} still reports {code.code} ({code.description})."
            )
        asset.status = AssetStatus.ACTIVE
        asset.save(update_fields=["status", "updated_at"])
        task.asset_returned_at = now
        task.save(update_fields=["asset_returned_at"])
    logger.info("asset %s returned to service after task %s", asset.uid, task.pk)
    return asset
