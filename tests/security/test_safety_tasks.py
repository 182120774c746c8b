"""Beat's safety entries are owned by code (issue 17, item 12): no role but
superusers can disable or change the setpoint expiry sweeper (the fail-safe),
the dispatch fan-out, the heartbeat or the notification sender; beat puts them
back when it starts; /healthz says when one is missing or disabled."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from celery.signals import beat_init
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from dermgmt.models import Heartbeat
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

SWEEPER = "dermgmt:setpoints-expire"
SAFETY = {
    "dermgmt:heartbeat",
    "dermgmt:dispatch-fan-out",
    SWEEPER,
    "dermgmt:notifications-send",
}
TASKS = "/admin/django_celery_beat/periodictask/"


@pytest.fixture(autouse=True)
def beat_schedule() -> None:
    call_command("setup_periodic_tasks", stdout=io.StringIO())


def task(name: str = SWEEPER) -> PeriodicTask:
    return PeriodicTask.objects.select_related("interval").get(name=name)


def healthz(client) -> dict:
    Heartbeat.objects.create(name="beat", beat_at=timezone.now())
    response = client.get("/healthz")
    return {"status": response.status_code, **response.json()["checks"]}


def test_an_operator_cannot_disable_a_safety_task_with_the_bulk_actions(
    client, operator
):
    """Disable and toggle on a selection that holds the safety entries leave
    them enabled (and say so)."""
    client.force_login(operator)
    selected = list(PeriodicTask.objects.filter(name__in=SAFETY).values_list("pk"))
    for action in ["disable_tasks", "toggle_tasks"]:
        response = client.post(
            TASKS,
            {"action": action, "_selected_action": [pk for (pk,) in selected]},
            follow=True,
        )
        assert "Left unchanged: dermgmt:" in response.content.decode()
    assert (
        set(PeriodicTask.objects.filter(enabled=True).values_list("name", flat=True))
        >= SAFETY
    )


def test_an_operator_cannot_change_or_delete_a_safety_task(client, operator):
    """The change form of the sweeper is read-only for an operator, with a
    warning; a POST to it or to its delete page is refused."""
    client.force_login(operator)
    sweeper = task()
    page = client.get(f"{TASKS}{sweeper.pk}/change/")
    assert page.status_code == 200
    assert "Safety task, owned by code" in page.content.decode()
    assert not page.context["has_change_permission"]
    refused = client.post(
        f"{TASKS}{sweeper.pk}/change/",
        {"name": SWEEPER, "task": sweeper.task, "interval": sweeper.interval_id},
    )
    assert refused.status_code == 403
    assert (
        client.post(f"{TASKS}{sweeper.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert task().enabled


def test_an_operator_cannot_stretch_the_interval_a_safety_task_runs_on(
    client, operator
):
    """Changing the IntervalSchedule under the sweeper would change the sweeper:
    refused too."""
    client.force_login(operator)
    interval = task().interval
    response = client.post(
        f"/admin/django_celery_beat/intervalschedule/{interval.pk}/change/",
        {"every": 86400, "period": IntervalSchedule.SECONDS},
    )
    assert response.status_code == 403
    interval.refresh_from_db()
    assert interval.every == 5


def test_operators_hold_no_add_or_delete_right_on_the_beat_schedule(operator):
    """Roles: operators see beat's tables and switch non-safety entries; they
    cannot add, delete, or change schedules."""
    assert operator.has_perm("django_celery_beat.view_periodictask")
    assert not operator.has_perm("django_celery_beat.add_periodictask")
    assert not operator.has_perm("django_celery_beat.delete_periodictask")
    assert not operator.has_perm("django_celery_beat.change_intervalschedule")
    assert not operator.has_perm("django_celery_beat.add_crontabschedule")


def test_a_superuser_may_disable_the_sweeper_and_healthz_says_so(client):
    """Superusers keep the break-glass right; /healthz then answers 503 naming
    the disabled entry."""
    client.force_login(make_user("root", is_superuser=True))
    client.post(TASKS, {"action": "disable_tasks", "_selected_action": [task().pk]})
    assert not task().enabled
    checks = healthz(client)
    assert checks["status"] == 503
    assert checks["safety_tasks"] == {
        "ok": False,
        "error": f"{SWEEPER} is disabled",
    }


def test_healthz_reports_a_missing_or_changed_safety_task(client):
    """A deleted fan-out and a sweeper that would only start next year are both
    named in /healthz's answer."""
    PeriodicTask.objects.filter(name="dermgmt:dispatch-fan-out").delete()
    PeriodicTask.objects.filter(name=SWEEPER).update(
        start_time=timezone.now() + timedelta(days=365)
    )
    checks = healthz(client)
    assert checks["status"] == 503
    assert checks["safety_tasks"]["error"] == (
        f"dermgmt:dispatch-fan-out is missing; {SWEEPER} differs from code: start_time"
    )


def test_beat_start_puts_the_safety_tasks_back_as_code_says(client):
    """Whatever was done to them (disabled, deleted, a day's interval, an expiry
    date in the past, arguments), beat's start-up signal restores every safety
    entry, and /healthz is content again."""
    day = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.DAYS)
    PeriodicTask.objects.filter(name=SWEEPER).update(
        enabled=False,
        interval=day,
        expire_seconds=None,
        expires=timezone.now() - timedelta(days=1),
        args="[1]",
    )
    PeriodicTask.objects.filter(name="dermgmt:heartbeat").delete()

    beat_init.send(sender=None)

    sweeper = task()
    assert sweeper.enabled
    assert (sweeper.interval.every, sweeper.interval.period) == (5, "seconds")
    assert (sweeper.expires, sweeper.expire_seconds, sweeper.args) == (None, 5, "[]")
    assert task("dermgmt:heartbeat").enabled
    assert healthz(client)["safety_tasks"]["ok"]
