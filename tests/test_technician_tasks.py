"""Hardware faults: the asset out of dispatch, one task, the team's workflow."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from assets.models import (
    AssetStatus,
    AssetTelemetry,
    DERAsset,
    HardwareErrorCode,
    Severity,
)
from assets.services import telemetry_record
from dermgmt import roles
from dispatch.services import cycle_run
from incidents import services
from incidents.models import (
    ActiveAlert,
    GridIncident,
    IncidentKind,
    IncidentStatus,
    TaskPriority,
    TaskStatus,
    TechnicianTask,
)
from tests.conftest import make_fleet, make_reading, make_substation, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def codes():
    return {
        severity: HardwareErrorCode.objects.create(
            code=f"E-{severity}", description=f"A {severity} error", severity=severity
        )
        for severity in Severity
    }


@pytest.fixture
def site():
    """A substation needing 6 kW from two fresh batteries."""
    substation = make_substation(import_capacity_kw=1000.0)
    batteries = make_fleet(substation, 2)
    return substation, batteries


def report(asset, code=None, *, at=None):
    """One telemetry row from `asset`, carrying `code` if given."""
    telemetry_record(
        telemetry=[
            AssetTelemetry(
                asset=asset,
                measured_at=at or timezone.now(),
                output_kw=0.0,
                state_of_charge=80.0,
                error_code=code,
            )
        ]
    )


_slots = itertools.count(1)


def cycle(substation):
    """A cycle in the next 5 s slot, with a fresh reading asking for 6 kW."""
    now = timezone.now() + timedelta(seconds=5 * next(_slots))
    make_reading(substation, load_kw=1006.0, measured_at=now - timedelta(seconds=1))
    return cycle_run(substation_id=substation.pk, now=now)


def test_a_critical_error_reported_ten_times_opens_one_task(site, codes):
    substation, (broken, healthy) = site
    critical = codes[Severity.CRITICAL]
    for i in range(10):
        report(broken, critical, at=timezone.now() + timedelta(microseconds=i))
        cycle(substation)
    task = TechnicianTask.objects.get()
    assert (task.asset, task.error_code, task.status) == (
        broken,
        critical,
        TaskStatus.OPEN,
    )
    assert task.priority == TaskPriority.URGENT
    assert task.due_at == task.created_at + timedelta(hours=4)
    broken.refresh_from_db()
    assert broken.status == AssetStatus.FAULT
    assert broken.target_output_kw == 0.0
    healthy.refresh_from_db()
    assert healthy.target_output_kw == pytest.approx(5.0)  # carries what it can
    incident = GridIncident.objects.get(kind=IncidentKind.HARDWARE)
    assert task.incident == incident
    assert ActiveAlert.objects.filter(incident=incident).exists()


def test_a_faulted_battery_is_out_of_the_very_cycle_that_sees_the_error(site, codes):
    substation, (broken, _healthy) = site
    cycle(substation)
    broken.refresh_from_db()
    assert broken.target_output_kw == pytest.approx(3.0)
    report(broken, codes[Severity.CRITICAL])
    cycle(substation)
    broken.refresh_from_db()
    assert broken.target_output_kw == 0.0


@pytest.mark.parametrize("severity", [Severity.INFO, Severity.WARNING, Severity.MAJOR])
def test_a_non_critical_error_opens_no_task(site, codes, severity):
    substation, (asset, _) = site
    report(asset, codes[severity])
    cycle(substation)
    assert not TechnicianTask.objects.exists()
    asset.refresh_from_db()
    assert asset.status == AssetStatus.ACTIVE


def test_a_decommissioned_asset_gets_no_task(site, codes):
    substation, (asset, _) = site
    DERAsset.objects.filter(pk=asset.pk).update(status=AssetStatus.DECOMMISSIONED)
    report(asset, codes[Severity.CRITICAL])
    cycle(substation)
    assert not TechnicianTask.objects.exists()


def test_the_team_works_a_task_and_returns_the_asset_to_service(
    site, codes, technician
):
    substation, (asset, _) = site
    report(asset, codes[Severity.CRITICAL])
    cycle(substation)
    task = TechnicianTask.objects.get()

    services.task_claim(task_id=task.pk, user=technician)
    services.task_start(task_id=task.pk, user=technician)
    services.task_done(task_id=task.pk, user=technician)
    task.refresh_from_db()
    assert (task.status, task.assignee, task.closed_by) == (
        TaskStatus.DONE,
        technician,
        technician,
    )
    assert task.assigned_at and task.started_at and task.closed_at
    incident = GridIncident.objects.get(kind=IncidentKind.HARDWARE)
    assert incident.status == IncidentStatus.ARCHIVED
    assert not ActiveAlert.objects.filter(incident=incident).exists()

    # Done is not "back in service": the asset stays out until someone says so,
    # and not while its newest telemetry still reports the critical error.
    asset.refresh_from_db()
    assert asset.status == AssetStatus.FAULT
    with pytest.raises(ValidationError, match="still reports E-critical"):
        services.task_asset_return(task_id=task.pk, user=technician)
    report(asset)  # a clean report
    services.task_asset_return(task_id=task.pk, user=technician)
    asset.refresh_from_db()
    assert asset.status == AssetStatus.ACTIVE
    task.refresh_from_db()
    assert task.asset_returned_at is not None
    cycle(substation)
    assert TechnicianTask.objects.count() == 1  # nothing reopened


def test_a_recurring_error_after_the_task_is_done_opens_a_new_task(
    site, codes, technician
):
    substation, (asset, _) = site
    critical = codes[Severity.CRITICAL]
    report(asset, critical)
    cycle(substation)
    task = TechnicianTask.objects.get()
    for move in (services.task_claim, services.task_start, services.task_done):
        move(task_id=task.pk, user=technician)
    cycle(substation)  # the newest report still carries the critical code
    assert TechnicianTask.objects.filter(status=TaskStatus.OPEN).count() == 1


def test_tasks_move_only_along_their_workflow(site, codes, technician):
    substation, (asset, _) = site
    report(asset, codes[Severity.CRITICAL])
    cycle(substation)
    task = TechnicianTask.objects.get()
    with pytest.raises(ValidationError, match="needs it assigned"):
        services.task_start(task_id=task.pk, user=technician)
    with pytest.raises(ValidationError, match="needs it done"):
        services.task_asset_return(task_id=task.pk, user=technician)
    services.task_claim(task_id=task.pk, user=technician)
    with pytest.raises(ValidationError, match="needs it open"):
        services.task_claim(task_id=task.pk, user=technician)


def test_only_the_assignee_starts_and_finishes_a_task(site, codes, technician):
    substation, (asset, _) = site
    report(asset, codes[Severity.CRITICAL])
    cycle(substation)
    task = TechnicianTask.objects.get()
    colleague = make_user("colleague", roles.MAINTENANCE)
    services.task_claim(task_id=task.pk, user=technician)
    with pytest.raises(PermissionDenied):
        services.task_start(task_id=task.pk, user=colleague)


def test_the_maintenance_team_cannot_cancel_but_operators_can(
    site, codes, technician, operator
):
    substation, (asset, _) = site
    report(asset, codes[Severity.CRITICAL])
    cycle(substation)
    task = TechnicianTask.objects.get()
    with pytest.raises(PermissionDenied):
        services.task_cancel(task_id=task.pk, user=technician)
    services.task_cancel(task_id=task.pk, user=operator)
    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELLED


def test_an_owner_cannot_work_tasks(site, codes, owner_user):
    substation, (asset, _) = site
    report(asset, codes[Severity.CRITICAL])
    cycle(substation)
    with pytest.raises(PermissionDenied):
        services.task_claim(task_id=TechnicianTask.objects.get().pk, user=owner_user)
