"""CSV asset import and export (docs/import.md): every bad row reported by line,
nothing written unless the whole file is valid, round trips change nothing."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.db.models import CheckConstraint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.imports import COLUMNS, assets_import, export_rows
from assets.models import AssetStatus, DERAsset, Owner
from dermgmt import roles
from tests.conftest import make_battery, make_owner, make_substation, make_user

SAMPLE = Path(__file__).resolve().parent.parent / "docs" / "sample-assets.csv"
HEADER = ",".join(COLUMNS)


def row(**cells) -> dict[str, str]:
    """A valid battery row; `cells` overrides some columns."""
    base = {
        "uid": "imp-1",
        "name": "Garage battery",
        "kind": "battery",
        "status": "active",
        "owner_email": "ana@example.org",
        "owner_name": "Ana Ruiz",
        "owner_phone": "+13035550101",
        "substation": "imp-sub",
        "latitude": "40.0",
        "longitude": "-105.25",
        "protocol": "sunspec_modbus",
        "max_discharge_power": "5.0",
        "max_charge_power_kw": "5.0",
        "energy_capacity_kwh": "13.5",
        "state_of_charge": "80",
        "min_soc_reserve": "20",
    }
    return {column: "" for column in COLUMNS} | base | cells


def csv_bytes(*rows: dict[str, str], header: list[str] = COLUMNS) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def run(data: bytes, **kwargs):
    return assets_import(io.BytesIO(data), **kwargs)


def errors_by_line(report) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for error in report.errors:
        found.setdefault(error.line, []).append(f"{error.column}: {error.message}")
    return found


@pytest.fixture
def grid(db):
    make_substation(code="imp-sub")
    make_substation(code="imp-sub-2")


def registry_state():
    return (
        list(DERAsset.objects.order_by("uid").values()),
        list(Owner.objects.order_by("email").values()),
    )


def test_a_valid_file_imports(grid):
    make_substation(code="boulder-north")
    make_substation(code="longmont-east")
    make_substation(code="lyons-valley")
    report = assets_import(SAMPLE.open("rb"))
    assert report.ok, report.errors
    assert (report.created, report.updated, report.owners_created) == (4, 0, 2)
    wind = DERAsset.objects.get(uid="le-wind-0007")
    assert wind.name == "Farm turbine, north field"
    assert wind.wind_power_curve == [[3, 0], [6, 20], [12, 100], [25, 100]]
    battery = DERAsset.objects.get(uid="bn-bess-0101")
    assert (battery.max_discharge_power, battery.ramp_limit_kw_per_s) == (5.0, 2.5)
    assert battery.owner.phone == "+13035550101"
    assert not battery.owner.sms_consent  # consent is the owner's to give
    assert battery.target_output_kw == 0.0
    assert DERAsset.objects.get(uid="lv-bess-0003").latitude is None


# Row-level faults, all in one file with valid rows and empty lines between: each
# is reported on its own line, and nothing at all is written.
BAD_ROWS = [
    ("unknown substation", row(uid="b1", substation="nowhere"), "Unknown substation"),
    ("negative power", row(uid="b2", max_discharge_power="-5"), "cannot be negative"),
    ("SoC 140", row(uid="b3", state_of_charge="140"), "between 0 and 100"),
    ("reserve above 100", row(uid="b4", min_soc_reserve="120"), "Reserve must be"),
    ("bad phone", row(uid="b5", owner_email="b5@x.org", owner_phone="+1 555"), "phone"),
    ("formula in a name", row(uid="b6", name="=HYPERLINK(1)"), "formula"),
    ("formula behind a space", row(uid="b6s", name=" =HYPERLINK(1)"), "formula"),
    ("full-width equals", row(uid="b6w", name="\uff1dHYPERLINK(1)"), "formula"),
    ("unknown kind", row(uid="b7", kind="nuclear"), "not a valid choice"),
    ("not a number", row(uid="b8", energy_capacity_kwh="five"), "must be a float"),
    ("NaN", row(uid="b9", max_charge_power_kw="nan"), "finite"),
    ("bad email", row(uid="b10", owner_email="not-an-email"), "email"),
    ("uid not a slug", row(uid="has space"), "slug"),
    ("latitude 95", row(uid="b12", latitude="95"), "less than or equal to 90"),
    ("battery without capacity", row(uid="b13", energy_capacity_kwh="0"), "capacity"),
    ("imported fault", row(uid="b14", status="fault"), "hardware error check"),
    ("name too long", row(uid="b15", name="x" * 201), "at most 200"),
    ("bad power curve", row(uid="b16", wind_power_curve="[[1,2"), "JSON"),
    ("tilt 100", row(uid="b17", pv_tilt_deg="100"), "Tilt is 0-90"),
    ("empty uid", row(uid=""), "required"),
    ("stray byte-order mark", row(uid="b19", name="\ufeffBattery"), "byte-order mark"),
    (
        "new owner without a name",
        row(uid="b20", owner_email="new@x.org", owner_name=""),
        "required",
    ),
    (
        "owner named differently",
        row(uid="b21", owner_name="Ana R."),
        "Differs from line 2",
    ),
    ("duplicate uid", row(uid="ok-1"), "'ok-1' is on line 2"),
]


def test_every_bad_row_is_reported_by_line_and_nothing_is_imported(grid):
    before = registry_state()

    def line(cells: dict[str, str]) -> str:
        return csv_bytes(cells).decode().splitlines()[1]

    lines = [HEADER, line(row(uid="ok-1")), "", ",,,"]  # empty lines are skipped
    expected_at = {}
    for label, bad, expected in BAD_ROWS:
        lines.append(line(bad))
        expected_at[len(lines)] = (label, expected)
    lines.append("b-short,Too short,battery")
    expected_at[len(lines)] = ("too few cells", "3 cells where the header has 25")
    lines.append(line(row(uid="ok-2")))
    report = run(("\n".join(lines) + "\n").encode())
    found = errors_by_line(report)
    assert not report.ok and report.created == 0
    for number, (label, expected) in expected_at.items():
        messages = found.get(number, [])
        assert any(expected in message for message in messages), (label, messages)
    assert set(found) == set(expected_at)  # the valid rows have none
    assert registry_state() == before


@pytest.mark.parametrize(
    ("label", "data", "line", "expected"),
    [
        (
            "wrong encoding",
            csv_bytes(row()) + "b2,Caf\u00e9,battery".encode("latin-1"),
            3,
            "Not UTF-8",
        ),
        (
            "semicolons",
            HEADER.replace(",", ";").encode() + b"\nx;y\n",
            1,
            "separated by ';'",
        ),
        (
            "missing columns",
            b"uid,name,kind\nx,y,battery\n",
            1,
            "Missing column(s): owner_email, substation",
        ),
        (
            "unknown column",
            csv_bytes(row() | {"colour": "red"}, header=[*COLUMNS, "colour"]),
            1,
            "'colour'",
        ),
        (
            "10 MB cell",
            csv_bytes(row(), row(uid="big", name="y" * 10_000_000)),
            3,
            "longer than",
        ),
        ("NUL byte", csv_bytes(row()).replace(b"Garage", b"Gar\x00age"), 2, "NUL"),
        ("empty file", b"", 1, "empty"),
        ("header only", HEADER.encode() + b"\n", 1, "no rows"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole(grid, label, data, line, expected):
    before = registry_state()
    report = run(data)
    assert not report.ok
    assert any(e.line == line and expected in e.message for e in report.errors), (
        report.errors
    )
    assert registry_state() == before


def test_a_byte_order_mark_at_the_start_is_what_excel_writes_and_is_accepted(grid):
    report = run(b"\xef\xbb\xbf" + csv_bytes(row()))
    assert report.ok, report.errors
    assert DERAsset.objects.filter(uid="imp-1").exists()


def test_export_then_import_changes_nothing(grid):
    owner = make_owner(name="=cmd|' /C calc'!A0", phone="+13035550199")
    substation = make_substation(code="-sub")
    make_battery(substation, owner, uid="-dash", ramp_limit_kw_per_s=0.1 + 0.2)
    run(
        csv_bytes(
            row(),
            row(
                uid="imp-pv",
                kind="pv",
                pv_dc_kwp="7.2",
                pv_tilt_deg="30",
                energy_capacity_kwh="0",
                wind_power_curve="[[0, 0], [10, 5.5]]",
            ),
        )
    )
    exported = io.StringIO()
    csv.writer(exported, lineterminator="\n").writerows(
        export_rows(DERAsset.objects.all())
    )
    text = exported.getvalue()
    # formula-looking text cells are escaped; numbers are not
    assert "'=cmd|" in text and "\n'-dash," in text and ",'-sub," in text
    assert ",-105.25," in text
    before = registry_state()
    report = run(text.encode())
    assert report.ok, report.errors
    assert (report.created, report.updated, report.unchanged) == (0, 0, 3)
    assert (report.owners_created, report.owners_updated) == (0, 0)
    assert registry_state() == before  # updated_at included


def test_an_import_updates_by_uid_and_leaves_measured_state_alone(grid):
    run(csv_bytes(row()))
    asset = DERAsset.objects.get(uid="imp-1")
    DERAsset.objects.filter(pk=asset.pk).update(state_of_charge=33.0)
    report = run(
        csv_bytes(
            row(name="Renamed", substation="imp-sub-2", state_of_charge="90"),
            row(uid="imp-2"),
        )
    )
    assert (report.created, report.updated, report.unchanged) == (1, 1, 0)
    asset.refresh_from_db()
    assert (asset.name, asset.substation.code) == ("Renamed", "imp-sub-2")
    assert asset.state_of_charge == 33.0  # telemetry owns it once the asset exists
    assert asset.updated_at > asset.created_at


def test_a_limit_below_what_the_battery_is_commanded_is_refused(grid):
    run(csv_bytes(row()))
    DERAsset.objects.filter(uid="imp-1").update(target_output_kw=4.0)
    report = run(csv_bytes(row(max_discharge_power="3")))
    assert "commanded 4 kW now" in str(report.errors)
    assert DERAsset.objects.get(uid="imp-1").max_discharge_power == 5.0


def test_faults_are_left_to_the_technician_task(grid):
    run(csv_bytes(row()))
    DERAsset.objects.filter(uid="imp-1").update(status=AssetStatus.FAULT)
    report = run(csv_bytes(row(status="active")))
    assert "technician task" in str(report.errors)
    assert run(csv_bytes(row(status="fault"))).ok  # as exported: no change


def test_owner_details_are_updated_from_the_file(grid):
    run(csv_bytes(row()))
    report = run(csv_bytes(row(owner_name="Ana Ruiz-Lee", owner_phone="")))
    assert (report.owners_updated, report.updated) == (1, 0)
    owner = Owner.objects.get(email="ana@example.org")
    assert (owner.name, str(owner.phone)) == ("Ana Ruiz-Lee", "")


def test_a_dry_run_writes_nothing(grid):
    report = run(csv_bytes(row(), row(uid="imp-2")), dry_run=True)
    assert report.ok and report.created == 2
    assert not DERAsset.objects.exists() and not Owner.objects.exists()


def test_the_query_count_does_not_grow_with_the_file(
    grid, django_assert_max_num_queries
):
    small = csv_bytes(*(row(uid=f"q-{i}") for i in range(5)))
    large = csv_bytes(
        *(row(uid=f"q-{i}", owner_email=f"o{i}@x.org") for i in range(500))
    )
    with django_assert_max_num_queries(12):
        assert run(small).ok
    with django_assert_max_num_queries(12):
        assert run(large).ok
    assert DERAsset.objects.count() == 500


@pytest.fixture
def owner_importer(grid):
    user = make_user("importing-owner", roles.ASSET_OWNERS)
    user.user_permissions.add(Permission.objects.get(codename="import_derasset"))
    make_owner(user=user, email="me@example.org", name="Me")
    make_battery(
        make_substation(), make_owner(email="other@example.org"), uid="not-mine"
    )
    return user


def test_an_owner_imports_only_its_own_assets(owner_importer):
    mine = row(
        uid="mine", owner_email="me@example.org", owner_name="Me", owner_phone=""
    )
    assert run(csv_bytes(mine), user=owner_importer).ok
    before = registry_state()
    report = run(
        csv_bytes(
            mine,
            row(uid="theirs", owner_email="other@example.org"),
            row(
                uid="not-mine",
                owner_email="me@example.org",
                owner_name="Me",
                owner_phone="",
            ),
        ),
        user=owner_importer,
    )
    found = errors_by_line(report)
    assert "only your own assets" in str(found[3])
    assert "not yours" in str(found[4])
    assert registry_state() == before


# --- the command ---------------------------------------------------------------


def test_the_command_imports_and_logs_who_did_it(grid, tmp_path, capsys):
    user = make_user("clerk", roles.BACK_OFFICE)
    path = tmp_path / "assets.csv"
    path.write_bytes(csv_bytes(row(), row(uid="imp-2")))
    call_command("import_assets", str(path), "--dry-run")
    assert "2 asset(s) would be created" in capsys.readouterr().out
    assert not DERAsset.objects.exists()
    call_command("import_assets", str(path), "--user", "clerk")
    assert DERAsset.objects.count() == 2
    entry = LogEntry.objects.get(user=user)
    assert entry.object_repr == f"CSV import {path}"
    assert "2 asset(s) were created" in entry.change_message


def test_the_command_prints_every_bad_row_and_fails(grid, tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_bytes(csv_bytes(row(state_of_charge="140"), row(uid="x", kind="?")))
    with pytest.raises(CommandError, match="2 bad row"):
        call_command("import_assets", str(path))
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "line 2, state_of_charge: State of charge must be between 0 and 100 %.",
        "line 3, kind: Value '?' is not a valid choice.",
    ]
    with pytest.raises(CommandError, match="may not import"):
        call_command("import_assets", str(path), "--user", make_user("op").username)


# --- the model's check constraints, evaluated in Python ---------------------------

LIMITED = [
    "max_discharge_power",
    "max_charge_power_kw",
    "energy_capacity_kwh",
    "state_of_charge",
    "min_soc_reserve",
    "target_output_kw",
]
NULLABLE = [
    "ramp_limit_kw_per_s",
    "pv_dc_kwp",
    "pv_tilt_deg",
    "pv_azimuth_deg",
    "pv_ac_limit_kw",
    "wind_rated_kw",
]
number = st.floats(min_value=-50, max_value=500, allow_nan=False)


@pytest.mark.django_db
@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    values=st.fixed_dictionaries(
        {
            **{name: number for name in LIMITED},
            **{name: st.none() | number for name in NULLABLE},
        }
    )
)
def test_the_import_judges_a_row_as_the_database_does(values):
    """Safety: the import refuses exactly the rows the database's check
    constraints would (limits of power, energy, state of charge, reserve,
    setpoint within the maximum), NULLs included, so no file can bring a
    battery beyond its limits and no valid row is refused."""
    from django.db import IntegrityError, transaction

    from assets.imports import violated

    checks = [
        violated(c.condition)
        for c in DERAsset._meta.constraints
        if isinstance(c, CheckConstraint)
    ]
    accepted_here = not any(refused(values) for refused in checks)
    owner = Owner.objects.get_or_create(email="p@example.org", name="P")[0]
    substation = make_substation()
    try:
        with transaction.atomic():
            DERAsset.objects.create(
                uid="prop", name="x", kind="battery", owner=owner,
                substation=substation, **values,
            )  # fmt: skip
            accepted_there = True
            transaction.set_rollback(True)
    except IntegrityError:
        accepted_there = False
    assert accepted_here == accepted_there, values
