"""Celery doors onto the dispatch services: take ids, call a service, nothing else."""

from __future__ import annotations

from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from dispatch import services


@shared_task(ignore_result=True, soft_time_limit=20, time_limit=30)
def cycles_fan_out() -> int:
    """Enqueue the cycle of every substation whose slot is due (beat calls this).

    Cycles travel in batches of DISPATCH_CYCLES_PER_TASK substations: a Celery
    task costs several milliseconds of its own, about half of a cycle's work.
    """
    now = timezone.now()
    due = services.cycles_due(now=now)
    for slot_at, cycle_s, substation_ids in services.cycle_batches(
        due=due, size=settings.DISPATCH_CYCLES_PER_TASK
    ):
        # A batch not started within one cycle period is dropped: by then the
        # next slot's is due. (Not the slot's end: beat ticks at any phase of it.)
        deadline = now + timedelta(seconds=cycle_s)
        cycles.apply_async(
            args=[substation_ids, slot_at.isoformat(), deadline.isoformat()],
            expires=deadline,
        )
    return len(due)


@shared_task(ignore_result=True, soft_time_limit=30, time_limit=60)
def cycles(substation_ids: list[int], slot_at: str, deadline: str) -> int:
    """The cycles of one slot, one substation after the other. Safe to run twice:
    a slot is dispatched once per substation."""
    runs = services.cycles_run(
        substation_ids=substation_ids,
        slot_at=datetime.fromisoformat(slot_at),
        deadline=datetime.fromisoformat(deadline),
    )
    return len(runs)


@shared_task(ignore_result=True, soft_time_limit=30, time_limit=60)
def setpoints_expire() -> int:
    """Return expired setpoints to 0 (the safe default)."""
    return services.setpoints_expire()
