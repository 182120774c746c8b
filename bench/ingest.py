"""Telemetry ingest: 10,000 rows stored and carried onto their assets.

Compares `assets.services.telemetry_record` (bulk insert + one UPDATE FROM unnest)
with a floor written by hand in the same run: COPY of the rows and the same
UPDATE, in one transaction; and with the plain ORM way (bulk_create +
bulk_update) for reference.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction

N = 10_000
_clock = itertools.count()
# Fresh times every run: re-sent telemetry would be ignored (and COPY refuse it).
EPOCH = datetime.now(UTC).replace(microsecond=0)


def fleet():
    from assets.models import DERAsset
    from bench.common import bench_batteries, bench_substation

    substation = bench_substation("bench-ingest", import_capacity_kw=10_000)
    bench_batteries([substation], N)
    return list(
        DERAsset.objects.filter(substation=substation)
        .order_by("pk")
        .values_list("pk", flat=True)[:N]
    )


def next_time() -> datetime:
    return EPOCH + timedelta(seconds=next(_clock))


def rows(pks):
    from assets.models import AssetTelemetry

    at = next_time()
    return [
        AssetTelemetry(asset_id=pk, measured_at=at, output_kw=1.0, state_of_charge=49.0)
        for pk in pks
    ]


def floor(pks) -> None:
    """Hand-written: COPY the rows, then one UPDATE ... FROM unnest for the assets."""
    at = next_time()
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.copy(
            "COPY assets_assettelemetry (asset_id, measured_at, received_at, "
            "output_kw, state_of_charge) FROM STDIN"
        ) as copy:
            for pk in pks:
                copy.write_row((pk, at, at, 1.0, 49.0))
        cursor.execute(
            "UPDATE assets_derasset a SET last_telemetry_at = v.at, "
            "state_of_charge = v.soc FROM unnest(%s::bigint[], %s::timestamptz[], "
            "%s::float8[]) AS v(id, at, soc) WHERE a.id = v.id",
            [pks, [at] * len(pks), [49.0] * len(pks)],
        )


def orm_plain(pks) -> None:
    from assets.models import AssetTelemetry, DERAsset

    batch = rows(pks)
    with transaction.atomic():
        AssetTelemetry.objects.bulk_create(batch, batch_size=2000)
        assets = list(DERAsset.objects.filter(pk__in=pks).only("pk"))
        for asset in assets:
            asset.last_telemetry_at = batch[0].measured_at
            asset.state_of_charge = 49.0
        DERAsset.objects.bulk_update(
            assets, ["last_telemetry_at", "state_of_charge"], batch_size=1000
        )


def main() -> None:
    from assets.services import telemetry_record
    from bench.common import median_s, report

    pks = fleet()
    prepared = {}

    def prepare():
        prepared["rows"] = rows(pks)

    floor_s = median_s(lambda: floor(pks))
    ours_s = median_s(
        lambda: telemetry_record(telemetry=prepared["rows"]), before=prepare
    )
    plain_s = median_s(lambda: orm_plain(pks), repeat=1)
    report("floor: COPY + UPDATE FROM unnest", floor_s, N)
    report("telemetry_record (median of 5)", ours_s, N, floor_s)
    report("plain ORM: bulk_create + bulk_update", plain_s, N, floor_s)
