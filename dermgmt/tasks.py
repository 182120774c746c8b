from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from dermgmt.models import Heartbeat


@shared_task(ignore_result=True)
def heartbeat() -> None:
    """Record that beat, the broker and a worker are all alive."""
    Heartbeat.objects.update_or_create(
        name="beat", defaults={"beat_at": timezone.now()}
    )


@shared_task(ignore_result=True, soft_time_limit=30, time_limit=45)
def simulate() -> dict:
    """One demo simulator tick; does nothing unless the simulator is enabled."""
    if not settings.SIMULATOR_ENABLED:
        return {}
    from dermgmt.simulator import simulate as run

    return run(now=timezone.now(), period_s=settings.SIMULATOR_PERIOD_S)
