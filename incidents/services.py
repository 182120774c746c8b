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
from django.db.models.query import RawQuerySet
from django.utils import timezone

from assets.models import AssetStatus, DERAsset, Severity
from dermgmt.locks import substation_lock_wait
from incidents import rules
from incidents.models import (
    LIVE,
    PENDING_TASK,
    ActiveAlert,
    GridIncident,
    IncidentKind,
    IncidentSeverity,
    IncidentStatus,
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


def incident_follow(
    *,
    incident: GridIncident,
    finding: rules.Finding,
    nominal_value: float,
    hold_s: float,
    now: datetime,
) -> bool:
    """Move a live incident along with this cycle's finding; True if it changed.

    Nominal starts (or continues) the hold: the incident is `resolved` and is
    archived once nominal for `hold_s`. Anything else, even a mere deviation,
    stops the hold and keeps it open; a worse value raises its severity and
    worst value, never lowers them.
    """
    fields: list[str] = []
    if finding.nominal:
        if incident.cleared_at is None:
            incident.cleared_at = now
            incident.status = IncidentStatus.RESOLVED
            fields += ["cleared_at", "status"]
        if (now - incident.cleared_at).total_seconds() >= hold_s:
            incident_archive(
                incident=incident, resolved_at=incident.cleared_at, now=now
            )
            return True
    else:
        if incident.cleared_at is not None:
            incident.cleared_at = None
            incident.status = IncidentStatus.OPEN
            fields += ["cleared_at", "status"]
        if finding.severity is not None and finding.severity > incident.severity:
            incident.severity = finding.severity
            fields.append("severity")
        if finding.severity is not None and rules.worse(
            finding.kind, finding.value, incident.worst_value, nominal=nominal_value
        ):
            incident.worst_value = finding.value
            incident.description = finding.description
            fields += ["worst_value", "description"]
    if not fields:
        return False
    incident.save(update_fields=fields)
    return True


LIVE_SQL = "SELECT * FROM {table} WHERE substation_id = %s AND status IN (%s, %s)"


def incidents_live(substation_id: int) -> RawQuerySet[GridIncident]:
    """The live incidents of a substation, in SQL: it runs in every cycle and the
    ORM's compilation of the filter cost more than the query."""
    sql = LIVE_SQL.format(table=GridIncident._meta.db_table)
    params = [substation_id, IncidentStatus.OPEN, IncidentStatus.RESOLVED]
    return GridIncident.objects.raw(sql, params)


def incidents_evaluate(
    *,
    substation_id: int,
    observation: rules.Observation,
    hold_s: float,
    now: datetime,
) -> list[GridIncident]:
    """Open, worsen, hold and archive a substation's incidents from one cycle.

    One query when nothing changes (the live incidents, a handful of rows);
    never two live incidents of one kind (also a database constraint).
    Returns the incidents that changed. Hardware faults follow their tasks
    instead (`faults_handle`, `task_close`).
    """
    live = {incident.kind: incident for incident in incidents_live(substation_id)}
    nominal_values: dict[str, float] = {
        IncidentKind.VOLTAGE: 1.0,
        IncidentKind.FREQUENCY: observation.nominal_frequency_hz,
    }
    changed = []
    for finding in rules.findings(observation):
        incident = live.get(finding.kind)
        if incident is None:
            if finding.severity is not None:
                changed.append(
                    incident_open(
                        substation_id=substation_id,
                        kind=finding.kind,
                        severity=finding.severity,
                        value=finding.value,
                        description=finding.description,
                        now=now,
                    )
                )
        elif incident_follow(
            incident=incident,
            finding=finding,
            nominal_value=nominal_values.get(finding.kind, 0.0),
            hold_s=hold_s,
            now=now,
        ):
            changed.append(incident)
    return changed


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
