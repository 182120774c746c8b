"""Writes to the asset registry: recording telemetry, and validating what is sent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from assets.models import AssetTelemetry, DERAsset, HardwareErrorCode
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
