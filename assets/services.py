"""Writes to the asset registry: recording telemetry, validating what is sent,
and importing big CSV files in the background."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
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
from assets.selectors import assets_visible_to
from dermgmt.db import update_rows
from dermgmt.ingest import Checker, as_items, lookup_keys

# --- Plausibility: what an asset can report (docs/api.md) --------------------------
# Telemetry beyond these is a broken meter or a unit mistake (W sent as kW is 1000x),
# never the asset: let through, 1e308 kW of PV broke the forecasts (issue 16).

# Output: an inverter rides through brief overloads of 110-150 % of its rating and a
# meter errs by a few %, so 1.5x the asset's largest rating (discharge, charge, PV
# DC or AC, wind: SunSpec WMax and its kin) covers both; the floor lets an asset
# registered without a rating (a flexible load) report a household's connection.
OUTPUT_MAX_RATING_MULTIPLE = 1.5
OUTPUT_MAX_FLOOR_KW = 10.0
OUTPUT_WHY = (
    f"{OUTPUT_MAX_RATING_MULTIPLE:g} x the asset's largest power rating "
    f"+ {OUTPUT_MAX_FLOOR_KW:g} kW"
)
# State of charge: 0-100 %, as the model's constraint (telemetry_soc_0_100).
RATING_FIELDS = [
    "max_discharge_power",
    "max_charge_power_kw",
    "pv_dc_kwp",
    "pv_ac_limit_kw",
    "wind_rated_kw",
]


def output_limit_kw(ratings: Sequence[float | None]) -> float:
    """The largest |output_kw| an asset with these RATING_FIELDS can report."""
    rating = max((kw for kw in ratings if kw is not None), default=0.0)
    return OUTPUT_MAX_RATING_MULTIPLE * rating + OUTPUT_MAX_FLOOR_KW


def telemetry_check(
    check: Checker, values: Mapping[str, Any], limit_kw: float | None
) -> dict[str, float | None]:
    """The numbers of one telemetry row, each recorded on `check` as an error
    unless finite and plausible for its asset (`limit_kw`, `output_limit_kw`;
    None when the asset is unknown: any finite output)."""
    return {
        "output_kw": check.number(
            values,
            "output_kw",
            low=None if limit_kw is None else -limit_kw,
            high=limit_kw,
            why=OUTPUT_WHY,
        ),
        "state_of_charge": check.number(
            values, "state_of_charge", low=0, high=100, required=False
        ),
    }


@transaction.atomic
def telemetry_record(*, telemetry: Sequence[AssetTelemetry]) -> int:
    """Insert telemetry in one statement and carry the newest state onto each asset.

    Re-sent telemetry (same asset and `measured_at`) is ignored. An asset's
    `last_telemetry_at`, `state_of_charge` and `last_error_code` only move to a
    newer measurement, so late-arriving old telemetry never rolls the registry
    back. (The cycle acts on `last_error_code`: step 7.) A row that is not
    plausible for its asset (`telemetry_check`) refuses the batch: BatchInvalid,
    nothing written. Returns the number of rows given.
    """
    stored = {
        pk: (last_at, last_soc, output_limit_kw(ratings))
        for pk, last_at, last_soc, *ratings in DERAsset.objects.filter(
            pk__in={row.asset_id for row in telemetry}
        ).values_list("pk", "last_telemetry_at", "state_of_charge", *RATING_FIELDS)
    }
    check = Checker(timezone.now())
    for check.index, row in enumerate(telemetry):
        asset = stored.get(row.asset_id)
        numbers = telemetry_check(check, vars(row), asset[2] if asset else None)
        for name, value in numbers.items():
            setattr(row, name, value)
    check.done()
    AssetTelemetry.objects.bulk_create(
        telemetry, ignore_conflicts=True, batch_size=2000
    )
    newest: dict[int, AssetTelemetry] = {}
    for row in telemetry:
        seen = newest.get(row.asset_id)
        if seen is None or row.measured_at > seen.measured_at:
            newest[row.asset_id] = row
    pks: list[int] = []
    seen_at: list[datetime] = []
    soc: list[float] = []
    error_code: list[int | None] = []
    for pk, row in newest.items():
        if pk not in stored:
            continue
        last_at, last_soc, _ = stored[pk]
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


def telemetry_ingest(
    *,
    data: Any,
    user: User | AnonymousUser | None = None,
    now: datetime | None = None,
) -> int:
    """Validate a batch of telemetry from an integration as a whole, then record
    it (re-sent rows are skipped). Raises BatchInvalid with every item's errors,
    having written nothing. Items: asset (uid), measured_at (ISO 8601 with
    offset), output_kw (negative: charging), optional state_of_charge (%) and
    error_code (a known hardware error code); each number finite and plausible
    for the asset (`telemetry_check`). `user`: the login that sends it, which
    may write only the assets it may see (an owner's login: its own; another
    asset is refused as unknown, as a missing one); None for an internal caller,
    every asset."""
    items = as_items(data)
    check = Checker(now or timezone.now())
    ids: dict[str, int] = {}
    limits: dict[int, float] = {}
    assets = DERAsset.objects.all() if user is None else assets_visible_to(user=user)
    for uid, pk, *ratings in assets.filter(
        uid__in=lookup_keys(items, "asset")
    ).values_list("uid", "pk", *RATING_FIELDS):
        ids[uid], limits[pk] = pk, output_limit_kw(ratings)
    codes = dict(HardwareErrorCode.objects.values_list("code", "pk"))
    values: list[dict[str, Any]] = []
    for check.index, item in enumerate(items):
        code = item.get("error_code")
        asset_id = check.known(item, "asset", ids)
        values.append(
            {
                "asset_id": asset_id,
                "measured_at": check.moment(item, "measured_at"),
                **telemetry_check(
                    check, item, None if asset_id is None else limits[asset_id]
                ),
                "error_code_id": None
                if code is None
                else check.known(item, "error_code", codes),
            }
        )
        # An asset measures once at a time: two items of one key must agree.
        check.distinct(
            values[-1], key=["asset_id", "measured_at"], what="asset and measured_at"
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
