"""Celery doors onto the daily report: take ids, call a service, nothing else."""

from __future__ import annotations

from celery import shared_task

from reports import services


@shared_task(ignore_result=True)
def reports_due() -> int:
    """Create yesterday's reports past each local midnight and hand them out (beat)."""
    return len(services.reports_due())


@shared_task(ignore_result=True, soft_time_limit=600, time_limit=660)
def report_generate(report_id: int) -> None:
    services.report_generate(report_id=report_id)
