"""Celery doors onto the outbox: take ids, call a service, nothing else."""

from __future__ import annotations

from celery import shared_task

from incidents import notifications


@shared_task(ignore_result=True, soft_time_limit=120, time_limit=150)
def notifications_send(idempotency_keys: list[str]) -> int:
    """Send rows just committed. Safe to run twice: each row is claimed once."""
    return notifications.notifications_deliver(idempotency_keys=idempotency_keys)


@shared_task(ignore_result=True, soft_time_limit=60, time_limit=90)
def notification_send(notification_id: int) -> str:
    """Send one row (a resend from the admin)."""
    return notifications.notification_deliver(notification_id=notification_id)


@shared_task(ignore_result=True, soft_time_limit=120, time_limit=150)
def notifications_send_due() -> int:
    """Retries that are due, and claims left behind by a dead worker (beat)."""
    return notifications.notifications_send_due()
