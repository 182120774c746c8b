"""GET /healthz: is the database up, the broker reachable, beat alive, and are the
safety entries of beat's schedule there and as code says?"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from dermgmt.celery import app as celery_app
from dermgmt.models import Heartbeat
from dermgmt.schedule import safety_names, safety_tasks_drift


def check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"ok": True}


def check_broker() -> dict:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)
    return {"ok": True, "transport": conn.transport_cls}


def check_beat() -> dict:
    beat_at = (
        Heartbeat.objects.filter(name="beat").values_list("beat_at", flat=True).first()
    )
    if beat_at is None:
        return {"ok": False, "error": "no heartbeat yet"}
    age_s = (timezone.now() - beat_at).total_seconds()
    return {
        "ok": age_s <= settings.HEARTBEAT_MAX_AGE_S,
        "age_s": round(age_s, 1),
        "max_age_s": settings.HEARTBEAT_MAX_AGE_S,
    }


def check_safety_tasks() -> dict:
    """The setpoint expiry sweeper (the fail-safe) and the other safety entries
    exist, are enabled and match dermgmt/schedule.py: a heartbeat alone does not
    show that beat still runs them."""
    problems = safety_tasks_drift()
    if problems:
        return {"ok": False, "error": "; ".join(problems)}
    return {"ok": True, "tasks": sorted(safety_names())}


CHECKS: dict[str, Callable[[], dict]] = {
    "database": check_database,
    "broker": check_broker,
    "beat": check_beat,
    "safety_tasks": check_safety_tasks,
}


def run_check(check: Callable[[], dict]) -> dict:
    try:
        return check()
    except Exception as exc:  # a health check reports failures, it never raises
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


@never_cache
@require_GET
def healthz(request):
    results = {name: run_check(check) for name, check in CHECKS.items()}
    healthy = all(result["ok"] for result in results.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": results}
    return JsonResponse(body, status=200 if healthy else 503)
