"""Background imports of big CSV files (assets.services.asset_import_*)."""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True, soft_time_limit=1800, time_limit=1900)
def asset_import_run(import_id: int) -> str:
    from assets.services import asset_import_run as run

    return run(import_id=import_id)
