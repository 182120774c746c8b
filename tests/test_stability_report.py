"""The daily stability report: figures of a synthetic day worked out by hand, the
PDF, and the report's life (created once, generated once, mailed once)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from django.core import mail
from django.core.management import call_command
from pypdf import PdfReader

from assets.models import AssetKind, AssetTelemetry, HardwareErrorCode
from dispatch.models import DispatchRun, Outcome, SetpointCommand, SetpointReason
from grid.models import GridReading
from incidents.models import (
    GridIncident,
    IncidentKind,
    IncidentSeverity,
    IncidentStatus,
    Notification,
    TaskPriority,
    TaskStatus,
    TechnicianTask,
)
from incidents.notifications import notifications_send_due
from reports.models import ReportStatus, StabilityReport
from reports.selectors import runs_of_day
from reports.services import (
    report_figures,
    report_generate,
    report_render,
    reports_due,
)
from tests.conftest import make_battery, make_owner, make_sensor, make_substation

pytestmark = pytest.mark.django_db

DAY = date(2026, 6, 21)
START = datetime(2026, 6, 21, 6, 0, tzinfo=UTC)  # local midnight in Denver (MDT)
DAY_S = 86_400
STEP_S = 10  # one reading every 10 s: within the policy's 15 s reading age


def at(hours: float) -> datetime:
    """Local time of the day as an aware UTC datetime."""
    return START + timedelta(hours=hours)


def frequency_at(t_s: int) -> float:
    """80 % of the day at 60.00 Hz, 15 % at 60.05 (outside the ±0.036 Hz
    deadband, inside ±0.1 Hz), the last 5 % at 59.85 (one excursion)."""
    if t_s < 0.80 * DAY_S:
        return 60.0
    return 60.05 if t_s < 0.95 * DAY_S else 59.85


def voltage_at(t_s: int) -> float:
    """90 % at 1.000 pu; the first 10 % at 1.055 pu: outside Range A, inside B."""
    return 1.055 if t_s < 0.10 * DAY_S else 1.0


@pytest.fixture
def site():
    substation = make_substation()  # America/Denver, 60 Hz
    sensor = make_sensor(substation)
    GridReading.objects.bulk_create(
        GridReading(
            substation=substation,
            sensor=sensor,
            measured_at=START + timedelta(seconds=t),
            frequency_hz=frequency_at(t),
            voltage_pu=voltage_at(t),
            load_kw=100.0 if t < DAY_S / 2 else 300.0,
        )
        for t in range(0, DAY_S, STEP_S)
    )
    owner = make_owner()
    first = make_battery(substation, owner, max_discharge_power=10.0)
    second = make_battery(substation, owner, max_discharge_power=10.0)
    setpoints = [
        # 2 kW from the evening before, expiring at 00:30: half an hour counts.
        (second, at(-0.5), 2.0, at(0.5)),
        # 5 kW from 12:00 until the 0 kW setpoint at 13:00.
        (first, at(12), 5.0, at(14)),
        (first, at(13), 0.0, None),
    ]
    SetpointCommand.objects.bulk_create(
        SetpointCommand(
            asset=asset,
            created_at=created,
            previous_kw=0.0,
            new_kw=kw,
            reason=SetpointReason.CYCLE,
            expires_at=expires,
        )
        for asset, created, kw, expires in setpoints
    )
    AssetTelemetry.objects.bulk_create(  # 5 kW each minute 12:00-12:59, then 0
        AssetTelemetry(
            asset=first,
            measured_at=at(12) + timedelta(minutes=m),
            output_kw=5.0 if m < 60 else 0.0,
        )
        for m in range(61)
    )
    DispatchRun.objects.bulk_create(
        DispatchRun(
            substation=substation,
            slot_at=at(hour),
            started_at=at(hour),
            outcome=Outcome.DISPATCHED,
            assets_active=1,  # of 2 batteries: half available
            command_kw=5.0,
        )
        for hour in (12, 12.5)
    )
    incidents = [  # (kind, opened, status, cleared, resolved)
        (IncidentKind.VOLTAGE, at(11), IncidentStatus.ARCHIVED, at(11.5), at(11.5)),
        (IncidentKind.FREQUENCY, at(-2), IncidentStatus.OPEN, None, None),
        (IncidentKind.STALE, at(20), IncidentStatus.RESOLVED, at(20 + 1 / 6), None),
        (IncidentKind.VOLTAGE, at(-5), IncidentStatus.ARCHIVED, at(-4), at(-4)),
    ]
    for kind, opened, status, cleared, resolved in incidents:
        GridIncident.objects.create(
            substation=substation,
            kind=kind,
            severity=IncidentSeverity.MODERATE,
            status=status,
            opened_at=opened,
            cleared_at=cleared,
            resolved_at=resolved,
            archived_at=resolved,
            worst_value=1.0,
            description="test",
        )
    code = HardwareErrorCode.objects.create(
        code="E-TEST", description="test", severity="critical"
    )
    for n, closed in enumerate([at(15), None]):
        TechnicianTask.objects.create(
            asset=first,
            error_code=code,
            priority=TaskPriority.HIGH,
            status=TaskStatus.DONE if closed else TaskStatus.OPEN,
            due_at=at(20),
            created_at=at(9 + n),
            closed_at=closed,
        )
    return substation


def figures_of(substation) -> dict:
    values, _ = report_figures(substations=[substation], day=DAY, zone=substation.zone)
    return values


def test_the_figures_match_the_hand_computed_day(site):
    f = figures_of(site)
    assert f["has_data"]
    assert f["readings"] == DAY_S // STEP_S
    assert f["coverage"] == pytest.approx(1.0)
    frequency = f["frequency"]
    assert frequency["share_in_deadband"] == pytest.approx(0.80)
    assert frequency["share_within_0_1_hz"] == pytest.approx(0.95)
    assert frequency["min_hz"] == pytest.approx(59.85)
    assert frequency["max_hz"] == pytest.approx(60.05)
    assert frequency["mean_hz"] == pytest.approx(60.0 + 0.15 * 0.05 - 0.05 * 0.15)
    assert frequency["excursions"] == 1
    (longest,) = frequency["longest_excursions"]
    assert longest["duration_s"] == pytest.approx(0.05 * DAY_S)
    assert longest["start"] == "22:48:00"  # 95 % of the local day
    assert longest["extreme_hz"] == pytest.approx(-0.15)
    voltage = f["voltage"]
    assert voltage["share_in_range_a"] == pytest.approx(0.90)
    assert voltage["share_in_range_b"] == pytest.approx(1.0)
    assert f["load"] == {"mean_kw": pytest.approx(200.0), "peak_kw": 300.0}


def test_energy_counts_each_setpoint_while_in_force_within_the_day(site):
    dispatch = figures_of(site)["dispatch"]
    assert dispatch["energy_commanded_kwh"] == pytest.approx(5.0 + 1.0)
    assert dispatch["batteries_involved"] == 2
    assert dispatch["energy_measured_kwh"] == pytest.approx(5.0)
    assert dispatch["cycles"] == 2


def test_incidents_tasks_and_availability_of_the_day(site):
    f = figures_of(site)
    incidents = f["incidents"]
    # Opened in the day: the 11:00 voltage and 20:00 stale incidents; the one of
    # the night before, still open, counts as open at midnight, not as opened;
    # the one archived before the day does not count at all.
    assert (incidents["opened"], incidents["resolved"], incidents["open_at_end"]) == (
        2,
        2,
        1,
    )
    durations = sorted(row["duration_s"] for row in incidents["longest"])
    assert durations == [600.0, 1800.0, 26 * 3600.0]  # open since 22:00 the day before
    assert f["tasks"] == {"opened": 2, "closed": 1, "open_at_end": 1}
    assert f["availability"]["batteries"] == 2
    assert f["availability"]["mean_available_share"] == pytest.approx(0.5)


def test_the_pdf_has_four_pages_and_the_key_figures(site):
    _, pdf, pages = report_render(day=DAY, substation=site)
    assert pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == pages == 4
    text = " ".join(page.extract_text() for page in reader.pages)
    for figure in (
        "80.0 %",
        "95.0 %",
        "90.0 %",
        "6.0 kWh",
        "1-min mean",
        "Page 1 of 4",
    ):
        assert figure in text
    assert "America/Denver" in text


def test_a_day_without_data_says_so():
    substation = make_substation()
    values, pdf, pages = report_render(day=DAY, substation=substation)
    assert not values["has_data"]
    assert values["frequency"]["share_in_deadband"] is None
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "No data for this day" in text
    assert pages == 4


def test_the_command_renders_a_file(site, tmp_path):
    out = io.StringIO()
    target = tmp_path / "report.pdf"
    call_command(
        "stability_report",
        "--date",
        "2026-06-21",
        "--substation",
        site.code,
        "--output",
        str(target),
        stdout=out,
    )
    assert target.read_bytes().startswith(b"%PDF")
    assert "4 pages" in out.getvalue()


def test_beat_creates_each_report_once_and_mails_the_fleet_report_once(
    site, settings, django_capture_on_commit_callbacks
):
    settings.REPORT_RECIPIENTS = ["goc@utility.example"]
    after_midnight = START + timedelta(days=1, hours=2, minutes=5)
    with django_capture_on_commit_callbacks(execute=True):
        due = reports_due(now=after_midnight)  # eager tasks: generated at once
    assert len(due) == 2  # the substation's and the fleet's
    reports = StabilityReport.objects.filter(day=DAY)
    assert {r.scope_name for r in reports} == {site.code, "fleet"}
    assert {r.status for r in reports} == {ReportStatus.READY}
    assert reports_due(now=after_midnight + timedelta(hours=1)) == []
    fleet = reports.get(substation=None)
    assert fleet.figures["frequency"]["share_in_deadband"] == pytest.approx(0.80)
    # Generating again replaces the PDF and mails nothing new.
    assert report_generate(report_id=fleet.pk, force=True).status == ReportStatus.READY
    assert Notification.objects.count() == 1
    notifications_send_due(now=datetime.now(UTC) + timedelta(days=365))
    (message,) = mail.outbox
    assert message.to == ["goc@utility.example"]
    assert "Stability report fleet 2026-06-21" in message.subject
    (_, content, mimetype) = message.attachments[0]
    assert content.startswith(b"%PDF") and mimetype == "application/pdf"


def test_a_report_claimed_by_a_live_worker_is_left_alone(site):
    report = StabilityReport.objects.create(
        day=DAY,
        substation=site,
        time_zone=site.time_zone,
        status=ReportStatus.GENERATING,
        claimed_at=datetime.now(UTC),
    )
    assert report_generate(report_id=report.pk) is None


def test_a_failure_is_recorded_on_the_report(site, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("renderer down")

    monkeypatch.setattr("reports.services.report_pdf", broken)
    report = StabilityReport.objects.create(
        day=DAY, substation=site, time_zone=site.time_zone
    )
    failed = report_generate(report_id=report.pk)
    assert failed.status == ReportStatus.FAILED
    assert "renderer down" in failed.error
    assert not Notification.objects.exists()


def test_operators_download_the_pdf_and_owners_cannot(
    client, operator, owner_user, site, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        reports_due(now=START + timedelta(days=1, hours=2, minutes=5))
    report = StabilityReport.objects.get(substation=site)
    client.force_login(operator)
    listing = client.get("/admin/reports/stabilityreport/")
    assert listing.status_code == 200
    url = f"/reports/{report.pk}/pdf/"
    assert url in listing.text
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    client.force_login(owner_user)
    assert client.get(url).status_code == 403


def test_a_battery_kind_is_needed_for_measured_energy(site):
    AssetTelemetry.objects.filter(asset__kind=AssetKind.BATTERY).delete()
    assert figures_of(site)["dispatch"]["energy_measured_kwh"] is None


def test_rendering_fetches_nothing_from_the_network():
    """The fetcher the report renders with refuses every URL: a page that links
    an image and a stylesheet on a local server makes no request to it."""
    import http.server
    import threading

    from weasyprint import HTML

    from reports.services import no_network

    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    html = (
        f'<link rel="stylesheet" href="{base}/style.css">'
        f'<p>Report</p><img src="{base}/logo.png">'
    )
    try:
        pdf = HTML(string=html, url_fetcher=no_network()).write_pdf()
    finally:
        server.shutdown()
    assert pdf.startswith(b"%PDF")
    assert requests == []


def test_the_day_daylight_saving_ends_has_25_hours():
    """1 November 2026, Denver: clocks go back at 02:00; a reading every 10 s
    from local midnight to midnight covers 25 hours, all of them observed."""
    substation = make_substation()
    sensor = make_sensor(substation)
    start = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)  # 00:00 MDT
    GridReading.objects.bulk_create(
        GridReading(
            substation=substation,
            sensor=sensor,
            measured_at=start + timedelta(seconds=t),
            frequency_hz=60.0,
            voltage_pu=1.0,
            load_kw=100.0,
        )
        for t in range(0, 25 * 3600, 10)
    )
    f, svgs = report_figures(
        substations=[substation], day=date(2026, 11, 1), zone=substation.zone
    )
    assert f["hours"] == 25
    assert f["readings"] == 25 * 360
    assert f["coverage"] == pytest.approx(1.0, abs=0.001)
    # Wall-clock ticks: 00:00, 03:00 (after the change, 3 h later on the clock
    # is 4 h elapsed: the tick at 3 h elapsed reads 02:00), ..., 23:00 at the end.
    assert ">02:00<" in svgs["frequency"] and ">23:00<" in svgs["frequency"]


def make_runs(runs) -> None:
    DispatchRun.objects.bulk_create(
        DispatchRun(
            substation=substation,
            slot_at=started,
            started_at=started,
            outcome=Outcome.DISPATCHED,
            command_kw=kw,
        )
        for substation, started, kw in runs
    )


def test_a_run_falls_in_its_minute_from_its_first_to_its_last_instant():
    """Minutes floor exact epoch seconds on both databases: runs at hh:mm:00.000,
    hh:mm:59.999 and hh:mm:59.999999 all fall in minute hh:mm, all day long
    (SQLite's julianday put about 4 % of them in the minute before)."""
    substation = make_substation()
    offsets_s = (0.0, 59.999, 59.999999)
    make_runs(
        (substation, START + timedelta(minutes=m, seconds=offset_s), 1.0)
        for m in range(DAY_S // 60)
        for offset_s in offsets_s
    )
    runs = runs_of_day(
        substation_ids=[substation.pk], start=START, end=START + timedelta(days=1)
    )
    minutes = runs[:, 1] // 60
    expected = np.repeat(np.arange(DAY_S // 60), len(offsets_s))
    assert (minutes == expected).all()


def test_the_peak_command_is_given_at_any_instant_and_as_the_best_minute_mean():
    """Substation one commands 4 kW at 12:00:00 and 6 kW at 12:00:59.999, two
    3 kW at 12:00:30: one's peak is 6 kW (mean of its minute 5 kW); the fleet's
    is 6 + 3 = 9 kW at 12:00:59.999 (minute means 5 + 3 = 8 kW)."""
    one, two = make_substation(), make_substation()
    make_runs(
        [
            (one, at(12), 4.0),
            (two, at(12) + timedelta(seconds=30), 3.0),
            (one, at(12) + timedelta(seconds=59.999), 6.0),
        ]
    )
    alone, _ = report_figures(substations=[one], day=DAY, zone=one.zone)
    assert alone["dispatch"]["peak_command_instant_kw"] == 6.0
    assert alone["dispatch"]["peak_command_kw"] == pytest.approx(5.0)
    fleet, _ = report_figures(substations=[one, two], day=DAY, zone=one.zone)
    assert fleet["dispatch"]["peak_command_instant_kw"] == 9.0
    assert fleet["dispatch"]["peak_command_kw"] == pytest.approx(8.0)


def test_stored_readings_beyond_any_bound_print_no_inf_or_nan(site):
    """Rows from before the ingest bounds (load 1e308 kW, PV at 1e308 kW) make
    sums overflow: the PDF prints a dash, the stored figures are strict JSON."""
    import json

    sensor = site.sensors.first()
    GridReading.objects.bulk_create(
        GridReading(
            substation=site,
            sensor=sensor,
            measured_at=at(1) + timedelta(seconds=t + 5),
            frequency_hz=60.0,
            voltage_pu=1.0,
            load_kw=1e308,
        )
        for t in range(0, 100, STEP_S)
    )
    values, pdf, _ = report_render(day=DAY, substation=site)

    def refuse(constant):
        raise ValueError(constant)

    json.loads(json.dumps(values), parse_constant=refuse)
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "inf" not in text.lower().replace("info", "")
    assert "nan" not in text.lower()
