"""Celery doors onto forecasting: take ids, call a service, nothing else."""

from __future__ import annotations

from celery import shared_task

from forecasting import services
from grid.models import Substation


@shared_task(ignore_result=True, soft_time_limit=600, time_limit=660)
def forecasts_run() -> int:
    """Fetch the weather and predict generation for every substation (beat)."""
    substations = list(Substation.objects.all())
    for substation in substations:
        services.forecast_run(substation=substation)
    return len(substations)


@shared_task(ignore_result=True, soft_time_limit=600, time_limit=660)
def forecast_accuracy_due() -> int:
    """Yesterday's forecast accuracy for every substation past its midnight (beat)."""
    return services.accuracy_due()
