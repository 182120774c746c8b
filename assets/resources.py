"""The asset registry's django-import-export resource: the admin's import (upload,
preview, confirm) and export go through it.

Its fields describe the CSV's columns (docs/import.md) to the library; reading,
validating and writing a file is `assets.imports`, the same code as the
`import_assets` command and the background import, so the rules live in one
place and a file is written set-based instead of the library's row by row.
"""

from __future__ import annotations

import csv
import io

import tablib
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from import_export import fields, resources, widgets
from import_export.formats import base_formats
from import_export.results import Error, Result, RowResult

from assets.imports import (
    COLUMNS,
    ImportReport,
    assets_import,
    export_rows,
)
from assets.models import DERAsset, Owner
from grid.models import Substation


class AssetFile(tablib.Dataset):
    """An uploaded file as its bytes: the import reads encoding, byte-order
    mark and line numbers from the file as sent, not as tablib parsed it."""

    def __init__(self, raw: bytes):
        super().__init__()
        self.raw = raw

    def __len__(self) -> int:
        return int(bool(self.raw.strip()))

    def lines(self) -> list[bytes]:
        return self.raw.splitlines(keepends=True)


class AssetCSV(base_formats.CSV):
    """CSV in, as bytes (AssetFile); CSV out, with the cells exports escape."""

    def is_binary(self) -> bool:
        return True

    def get_read_mode(self) -> str:
        return "rb"

    def create_dataset(self, in_stream, **kwargs) -> AssetFile:
        return AssetFile(
            in_stream if isinstance(in_stream, bytes) else in_stream.encode()
        )

    def export_data(self, dataset, **kwargs) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(dataset.headers)
        writer.writerows(dataset)
        return out.getvalue()


class AssetResource(resources.ModelResource):
    owner_email = fields.Field(
        attribute="owner",
        column_name="owner_email",
        widget=widgets.ForeignKeyWidget(Owner, field="email"),
    )
    owner_name = fields.Field(attribute="owner__name", readonly=True)
    owner_phone = fields.Field(attribute="owner__phone", readonly=True)
    substation = fields.Field(
        attribute="substation",
        column_name="substation",
        widget=widgets.ForeignKeyWidget(Substation, field="code"),
    )

    class Meta:
        model = DERAsset
        fields = COLUMNS
        export_order = COLUMNS
        import_id_fields = ["uid"]
        skip_unchanged = True

    def import_data(self, dataset, dry_run=False, raise_errors=False, **kwargs):
        user, file_name = kwargs.get("user"), kwargs.get("file_name") or "upload.csv"
        lines = (
            dataset.lines()
            if isinstance(dataset, AssetFile)
            else [line.encode() + b"\n" for line in dataset.export("csv").splitlines()]
        )
        report = assets_import(lines, user=user, dry_run=dry_run, file_name=file_name)
        return report_result(report)

    def export(self, queryset=None, **kwargs) -> tablib.Dataset:
        rows = export_rows(self.get_queryset() if queryset is None else queryset)
        return tablib.Dataset(*rows, headers=next(rows))


class ReportResult(Result):
    """The library's Result, carrying our report for the preview's summary."""

    def __init__(self, report: ImportReport):
        super().__init__()
        self.report = report


def report_result(report: ImportReport) -> ReportResult:
    """Our report in the shape django-import-export's admin templates read:
    file-level errors as base errors, bad rows by line as invalid rows, and the
    first rows' outcome (new / update / skip) as the preview."""
    result = ReportResult(report)
    by_line: dict[int, dict[str, list[str]]] = {}
    for error in report.errors:
        if error.line == 1:
            result.append_base_error(Error(ValueError(f"Line 1: {error.message}")))
            continue
        field = error.column or NON_FIELD_ERRORS
        by_line.setdefault(error.line, {}).setdefault(field, []).append(error.message)
    result.diff_headers = ["line", "uid", "changes"]
    for line, errors in by_line.items():
        result.append_invalid_row(
            line, {"line": line, "uid": "", "changes": ""}, ValidationError(errors)
        )
    kinds = {"new": RowResult.IMPORT_TYPE_NEW, "update": RowResult.IMPORT_TYPE_UPDATE}
    for line, uid, outcome, changes in report.sample:
        row = RowResult()
        row.import_type = kinds.get(outcome, RowResult.IMPORT_TYPE_SKIP)
        row.diff = [line, uid, changes]
        result.append_row_result(row)
    result.totals[RowResult.IMPORT_TYPE_NEW] = report.created
    result.totals[RowResult.IMPORT_TYPE_UPDATE] = report.updated
    result.totals[RowResult.IMPORT_TYPE_SKIP] = report.unchanged
    result.totals[RowResult.IMPORT_TYPE_INVALID] = report.bad_lines
    result.total_rows = report.rows
    return result
