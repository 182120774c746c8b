"""Celery doors onto the outbox: take ids, call a service, nothing else."""

from __future__ import annotations

from celery import shared_task

from incidents import notifications


@shared_task(ignore_result=True, soft_time_limit=120, time_limit=150)
def notifications_send(notification_ids: list[int]) -> int:
    """Send rows just committed. Safe to run twice: each row is claimed once."""
    for notification_id in notification_ids:
        notifications.notification_deliver(notification_id=notification_id)
    return len(notification_ids)


@shared_task(ignore_result=True, soft_time_limit=120, time_limit=150)
def notifications_send_due() -> int:
    """Retries that are due, and claims left behind by a dead worker (beat)."""
    return notifications.notifications_send_due()
