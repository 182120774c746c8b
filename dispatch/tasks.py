"""Celery doors onto the dispatch services: take ids, call a service, nothing else."""

from __future__ import annotations

from datetime import datetime, timedelta

from celery import shared_task

from dispatch import services


@shared_task(ignore_result=True, soft_time_limit=20, time_limit=30)
def cycles_fan_out() -> int:
    """Enqueue one cycle per substation whose slot is due (beat calls this)."""
    due = services.cycles_due()
    for substation_id, slot_at, cycle_s in due:
        # A cycle not started within its own slot is dropped: the next one is due.
        cycle.apply_async(
            args=[substation_id, slot_at.isoformat()],
            expires=slot_at + timedelta(seconds=cycle_s),
        )
    return len(due)


@shared_task(ignore_result=True, soft_time_limit=30, time_limit=60)
def cycle(substation_id: int, slot_at: str | None = None) -> str:
    """One stabilisation cycle. Safe to run twice: a slot is dispatched once."""
    run = services.cycle_run(
        substation_id=substation_id,
        slot_at=datetime.fromisoformat(slot_at) if slot_at else None,
    )
    return run.outcome


@shared_task(ignore_result=True, soft_time_limit=30, time_limit=60)
def setpoints_expire() -> int:
    """Return expired setpoints to 0 (the safe default)."""
    return services.setpoints_expire()
