"""CSV formulas hidden behind blanks or full-width signs (issue 17, item 11): the
import refuses them in text cells and the export escapes them, as it does
`=`, `+`, `-` and `@` themselves (docs/import.md)."""

from __future__ import annotations

import csv
import io

import pytest

from assets.imports import export_rows
from assets.models import DERAsset
from tests.conftest import make_battery, make_owner, make_substation
from tests.test_asset_import import csv_bytes, errors_by_line, row, run

pytestmark = pytest.mark.django_db

# A cell a spreadsheet runs as a formula, each in a form the first check missed.
HIDDEN_FORMULAS = {
    "a leading space": " =HYPERLINK(1)",
    "a leading line feed": "\n=HYPERLINK(1)",
    "a leading ideographic space": "\u3000=1+1",
    "a leading zero-width space": "\u200b@SUM(A1)",
    "full-width equals": "\uff1dHYPERLINK(1)",
    "full-width plus": "\uff0b1+1",
    "full-width minus": "\uff0d1+1",
    "full-width at": "\uff20SUM(A1)",
    "a space then full-width equals": " \uff1d1+1",
    "small equals": "\ufe661+1",
}
TEXT_COLUMNS = ["name", "owner_name", "wind_turbine_type"]


@pytest.fixture
def grid(db):
    make_substation(code="imp-sub")


def cells_for(column: str, value: str) -> dict[str, str]:
    cells = {"uid": "f-1", column: value}
    if column == "wind_turbine_type":
        cells |= {"kind": "wind", "wind_rated_kw": "100", "wind_hub_height_m": "80"}
    return row(**cells)


@pytest.mark.parametrize("column", TEXT_COLUMNS)
@pytest.mark.parametrize(
    "formula", HIDDEN_FORMULAS.values(), ids=HIDDEN_FORMULAS.keys()
)
def test_the_import_refuses_a_formula_behind_blanks_or_full_width_signs(
    grid, column, formula
):
    """Refused as `=...` is, on its line and column, and nothing is written."""
    report = run(csv_bytes(cells_for(column, formula)))
    assert not report.ok
    assert any(
        f"{column}: " in message and "formula" in message
        for message in errors_by_line(report)[2]
    ), report.errors
    assert not DERAsset.objects.exists()


@pytest.mark.parametrize(
    "formula", HIDDEN_FORMULAS.values(), ids=HIDDEN_FORMULAS.keys()
)
def test_the_import_takes_a_hidden_formula_written_with_an_apostrophe(grid, formula):
    """The apostrophe says "this is text", as for `'=...`; it is taken off."""
    report = run(csv_bytes(cells_for("name", "'" + formula)))
    assert report.ok, report.errors
    assert DERAsset.objects.get(uid="f-1").name == formula


@pytest.mark.parametrize(
    "text", [" Garage battery", "Garage = north", "\uff21-side", "Caf\u00e9 unit"]
)
def test_the_import_still_takes_text_that_is_no_formula(grid, text):
    """Leading blanks before a letter, signs after the first character and
    full-width letters (U+FF21) are text."""
    report = run(csv_bytes(cells_for("name", text)))
    assert report.ok, report.errors


@pytest.mark.parametrize(
    "formula", HIDDEN_FORMULAS.values(), ids=HIDDEN_FORMULAS.keys()
)
def test_the_export_escapes_a_hidden_formula_and_reads_it_back(grid, formula):
    """The export puts an apostrophe before it, and importing the export changes
    nothing."""
    owner = make_owner(name=formula, email="f@example.org")
    make_battery(make_substation(code="exp-sub"), owner, uid="exp-1", name=formula)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(export_rows(DERAsset.objects.all()))
    exported = list(csv.reader(io.StringIO(out.getvalue())))
    header, cells = exported[0], exported[1]
    assert cells[header.index("name")] == "'" + formula
    assert cells[header.index("owner_name")] == "'" + formula
    report = run(out.getvalue().encode())
    assert report.ok, report.errors
    assert (report.created, report.updated, report.unchanged) == (0, 0, 1)
