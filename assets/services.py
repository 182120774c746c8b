"""Writes to the asset registry: recording telemetry, validating what is sent,
and importing big CSV files in the background."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from assets import tasks
from assets.imports import assets_import
from assets.models import (
    AssetImport,
    AssetImportStatus,
    AssetTelemetry,
    DERAsset,
    HardwareErrorCode,
)
from dermgmt.db import update_rows
from dermgmt.ingest import Checker, as_items, lookup_keys


@transaction.atomic
def telemetry_record(*, telemetry: Sequence[AssetTelemetry]) -> int:
    """Insert telemetry in one statement and carry the newest state onto each asset.

    Re-sent telemetry (same asset and `measured_at`) is ignored. An asset's
    `last_telemetry_at`, `state_of_charge` and `last_error_code` only move to a
    newer measurement, so late-arriving old telemetry never rolls the registry
    back. (The cycle acts on `last_error_code`: step 7.)
    Returns the number of rows given.
    """
    AssetTelemetry.objects.bulk_create(
        telemetry, ignore_conflicts=True, batch_size=2000
    )
    newest: dict[int, AssetTelemetry] = {}
    for row in telemetry:
        seen = newest.get(row.asset_id)
        if seen is None or row.measured_at > seen.measured_at:
            newest[row.asset_id] = row
    stored = DERAsset.objects.filter(pk__in=newest).values_list(
        "pk", "last_telemetry_at", "state_of_charge"
    )
    pks: list[int] = []
    seen_at: list[datetime] = []
    soc: list[float] = []
    error_code: list[int | None] = []
    for pk, last_at, last_soc in stored:
        row = newest[pk]
        if last_at is not None and row.measured_at <= last_at:
            continue
        pks.append(pk)
        seen_at.append(row.measured_at)
        soc.append(last_soc if row.state_of_charge is None else row.state_of_charge)
        error_code.append(row.error_code_id)
    update_rows(
        model=DERAsset,
        pks=pks,
        columns={
            "last_telemetry_at": seen_at,
            "state_of_charge": soc,
            "last_error_code": error_code,
        },
    )
    return len(telemetry)


def telemetry_ingest(*, data: Any, now: datetime | None = None) -> int:
    """Validate a batch of telemetry from an integration as a whole, then record
    it (re-sent rows are skipped). Raises BatchInvalid with every item's errors,
    having written nothing. Items: asset (uid), measured_at (ISO 8601 with
    offset), output_kw (negative: charging), optional state_of_charge (%) and
    error_code (a known hardware error code)."""
    items = as_items(data)
    check = Checker(now or timezone.now())
    assets = dict(
        DERAsset.objects.filter(uid__in=lookup_keys(items, "asset")).values_list(
            "uid", "pk"
        )
    )
    codes = dict(HardwareErrorCode.objects.values_list("code", "pk"))
    values: list[dict[str, Any]] = []
    for check.index, item in enumerate(items):
        code = item.get("error_code")
        values.append(
            {
                "asset_id": check.known(item, "asset", assets),
                "measured_at": check.moment(item, "measured_at"),
                "output_kw": check.number(item, "output_kw"),
                "state_of_charge": check.number(
                    item, "state_of_charge", low=0, high=100, required=False
                ),
                "error_code_id": None
                if code is None
                else check.known(item, "error_code", codes),
            }
        )
    check.done()  # raises before anything is built or written
    return telemetry_record(telemetry=[AssetTelemetry(**row) for row in values])


# --- Background CSV imports (docs/import.md) ---------------------------------------

ERRORS_KEPT = 1_000  # bad rows stored on an AssetImport for the admin to show


def asset_import_start(*, user, upload) -> AssetImport:
    """Store an uploaded file and validate it in the background."""
    lines = sum(chunk.count(b"\n") for chunk in upload.chunks()) or 1
    upload.seek(0)
    job = AssetImport.objects.create(
        user=user, file=upload, file_name=upload.name[:255], lines=lines
    )
    transaction.on_commit(functools.partial(tasks.asset_import_run.delay, job.pk))
    return job


def asset_import_confirm(*, job: AssetImport) -> bool:
    """Import a validated file (again validated, in the import's transaction)."""
    claimed = AssetImport.objects.filter(
        pk=job.pk, status=AssetImportStatus.VALID
    ).update(status=AssetImportStatus.IMPORTING, rows_read=0)
    if claimed:
        transaction.on_commit(functools.partial(tasks.asset_import_run.delay, job.pk))
    return bool(claimed)


def asset_import_run(*, import_id: int) -> str:
    """Validate (status validating) or import (status importing) a stored file,
    recording progress and the outcome on the AssetImport. The file (owners'
    contact details) is deleted once no step needs it any more."""
    job = AssetImport.objects.select_related("user").get(pk=import_id)
    if job.status not in (AssetImportStatus.VALIDATING, AssetImportStatus.IMPORTING):
        return job.status
    writing = job.status == AssetImportStatus.IMPORTING
    rows = AssetImport.objects.filter(pk=job.pk)
    outcome: dict[str, Any] = {"finished_at": timezone.now()}
    try:
        with job.file.open("rb") as lines:
            report = assets_import(
                lines,
                user=job.user,
                dry_run=not writing,
                progress=lambda n: rows.update(rows_read=n),
                file_name=job.file_name,
            )
    except Exception as error:
        outcome |= {"status": AssetImportStatus.FAILED, "summary": f"Failed: {error}"}
        raise
    else:
        if not report.ok:
            status = AssetImportStatus.INVALID
        elif writing:
            status = AssetImportStatus.DONE
        else:
            status = AssetImportStatus.VALID
            outcome["finished_at"] = None
        outcome |= {
            "status": status,
            "rows_read": report.rows,
            "summary": report.summary(),
            "errors": [
                [error.line, error.column, error.message]
                for error in report.errors[:ERRORS_KEPT]
            ],
            "error_count": len(report.errors),
        }
    finally:
        if outcome.get("status") != AssetImportStatus.VALID:
            job.file.delete(save=False)
            outcome["file"] = ""
        outcome["summary"] = outcome.get("summary", "")[:500]
        rows.update(**outcome)
    return status
