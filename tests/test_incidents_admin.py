"""Admin doors of incidents: who may see and do what."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from assets.models import DERAsset, HardwareErrorCode, Owner
from incidents.models import GridIncident, IncidentKind, TaskStatus, TechnicianTask
from incidents.services import incident_open
from tests.conftest import make_battery, make_fleet, make_owner, make_substation

pytestmark = pytest.mark.django_db

TASKS = "/admin/incidents/techniciantask/"


def make_task(asset: DERAsset) -> TechnicianTask:
    code, _ = HardwareErrorCode.objects.get_or_create(
        code="E-BMS", defaults={"description": "BMS fault", "severity": "critical"}
    )
    now = timezone.now()
    return TechnicianTask.objects.create(
        asset=asset, error_code=code, priority=1, due_at=now, created_at=now
    )


@pytest.fixture
def task():
    return make_task(make_fleet(make_substation(), 1)[0])


def act(client, action: str, task: TechnicianTask):
    return client.post(TASKS, {"action": action, "_selected_action": [task.pk]})


def test_a_technician_moves_a_task_through_its_states(client, technician, task):
    client.force_login(technician)
    page = client.get(TASKS)
    assert page.status_code == 200
    assert [t.pk for t in page.context["cl"].result_list] == [task.pk]
    for action, status in [
        ("claim", TaskStatus.ASSIGNED),
        ("start", TaskStatus.IN_PROGRESS),
        ("done", TaskStatus.DONE),
    ]:
        assert act(client, action, task).status_code == 302
        task.refresh_from_db()
        assert task.status == status
    assert task.assignee == technician


def test_a_technician_edits_notes_and_nothing_else(client, technician, task):
    client.force_login(technician)
    response = client.post(
        f"{TASKS}{task.pk}/change/",
        {"notes": "Replaced the BMS board.", "status": "done", "priority": 4},
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.notes == "Replaced the BMS board."
    assert (task.status, task.priority) == (TaskStatus.OPEN, 1)


def test_a_technician_cannot_cancel_or_add_tasks(client, technician, task):
    client.force_login(technician)
    page = client.get(TASKS)
    offered = [name for name, _ in page.context["action_form"].fields["action"].choices]
    assert "cancel" not in offered and "claim" in offered
    act(client, "cancel", task)
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN
    assert client.get(f"{TASKS}add/").status_code == 403


def test_a_technician_cannot_change_setpoints_policies_or_owners(
    client, technician, task
):
    client.force_login(technician)
    asset = task.asset
    setpoint = client.post(
        f"/admin/assets/derasset/{asset.pk}/setpoint/", {"target_output_kw": "1"}
    )
    assert setpoint.status_code == 403
    policy = client.post(
        "/admin/dispatch/dispatchpolicy/add/",
        {"substation": asset.substation_id, "droop": 0.04},
    )
    assert policy.status_code == 403
    owner = client.post(
        f"/admin/assets/owner/{asset.owner_id}/change/", {"name": "Changed"}
    )
    assert owner.status_code == 403
    assert Owner.objects.get(pk=asset.owner_id).name != "Changed"
    asset_change = client.post(
        f"/admin/assets/derasset/{asset.pk}/change/", {"status": "inactive"}
    )
    assert asset_change.status_code == 403


def test_an_owner_sees_only_the_tasks_of_their_own_assets(client, owner_user, task):
    own = make_task(DERAsset.objects.get(uid="owners-own-battery"))
    client.force_login(owner_user)
    page = client.get(TASKS)
    assert [t.pk for t in page.context["cl"].result_list] == [own.pk]
    assert "claim" not in str(page.context["action_form"])
    stranger = client.get(f"{TASKS}{task.pk}/change/")
    assert stranger.status_code == 404  # as a missing task (OwnerScopedAdmin)
    assert client.get(f"{TASKS}{own.pk}/change/").status_code == 200


def test_operators_read_incidents_and_active_alerts(client, operator):
    substation = make_substation()
    incident_open(
        substation_id=substation.pk,
        kind=IncidentKind.VOLTAGE,
        severity=1,
        value=1.07,
        description="voltage 1.070 pu",
        now=timezone.now(),
    )
    client.force_login(operator)
    alerts = client.get("/admin/incidents/activealert/")
    assert alerts.status_code == 200
    assert "voltage 1.070 pu" in alerts.content.decode()
    incidents = client.get("/admin/incidents/gridincident/?status=open")
    assert [i.pk for i in incidents.context["cl"].result_list] == [
        GridIncident.objects.get().pk
    ]


def test_the_overdue_filter(client, operator, task):
    later = make_task(make_battery(task.asset.substation, make_owner()))
    TechnicianTask.objects.filter(pk=later.pk).update(
        due_at=timezone.now() + timedelta(hours=4)
    )
    client.force_login(operator)
    page = client.get(f"{TASKS}?overdue=yes")
    assert [t.pk for t in page.context["cl"].result_list] == [task.pk]
