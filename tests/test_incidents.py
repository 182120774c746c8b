"""Grid incidents and the active-alerts list, driven through stabilisation cycles."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch.services import cycle_run, policy_update
from incidents.models import (
    ActiveAlert,
    GridIncident,
    IncidentKind,
    IncidentSeverity,
    IncidentStatus,
)
from incidents.rules import RANGE_A_PU, RANGE_B_PU, Observation
from incidents.services import incidents_evaluate
from tests.conftest import make_fleet, make_reading, make_substation

pytestmark = pytest.mark.django_db

CYCLE_S = 5
START = timezone.now().replace(microsecond=0)


class Grid:
    """One substation driven through cycles on a simulated clock, 5 s apart."""

    def __init__(self, **substation_fields):
        self.substation = make_substation(**substation_fields)
        self.t = START
        self.cycles = 0

    def cycle(self, **reading):
        """A fresh reading, then one cycle a second later."""
        self.cycles += 1
        self.t = START + timedelta(seconds=CYCLE_S * self.cycles)
        make_reading(
            self.substation, measured_at=self.t - timedelta(seconds=1), **reading
        )
        return cycle_run(substation_id=self.substation.pk, now=self.t)

    def cycle_for(self, seconds: float, **reading):
        for _ in range(int(seconds // CYCLE_S)):
            self.cycle(**reading)

    def incidents(self, kind=IncidentKind.VOLTAGE):
        return GridIncident.objects.filter(substation=self.substation, kind=kind)

    def alerts(self):
        return ActiveAlert.objects.filter(incident__substation=self.substation)


def test_one_voltage_excursion_is_one_incident_archived_after_the_hold():
    """1.00 pu -> 1.07 pu for 3 cycles -> 1.03 pu for 6 minutes. A voltage
    incident carries the times of the readings (1 s before their cycle); it is
    archived by the cycle that sees 300 s of nominal readings."""
    grid = Grid()
    grid.cycle(voltage_pu=1.00)
    assert not grid.incidents().exists()

    for _ in range(3):
        grid.cycle(voltage_pu=1.07)
        assert grid.incidents().count() == 1
        assert grid.alerts().count() == 1
    incident = grid.incidents().get()
    assert incident.status == IncidentStatus.OPEN
    assert incident.severity == IncidentSeverity.MODERATE  # outside B, below 1.10
    assert incident.worst_value == pytest.approx(1.07)
    assert incident.opened_at == START + timedelta(seconds=10 - 1)

    back_at = grid.t + timedelta(seconds=CYCLE_S)  # the cycle; its reading 1 s before
    grid.cycle_for(295, voltage_pu=1.03)  # inside Range A, hold not over yet
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    assert incident.cleared_at == back_at - timedelta(seconds=1)
    assert grid.alerts().count() == 1

    grid.cycle_for(65, voltage_pu=1.03)  # 6 minutes in all
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.ARCHIVED
    assert incident.resolved_at == back_at - timedelta(seconds=1)
    assert incident.archived_at == back_at + timedelta(seconds=300)
    assert not grid.alerts().exists()
    assert grid.incidents().count() == 1
    assert GridIncident.objects.filter(substation=grid.substation).count() == 1


def test_flicker_at_the_edge_neither_reopens_nor_archives():
    grid = Grid()
    grid.cycle(voltage_pu=1.07)
    for _ in range(100):  # 500 s flickering across Range A's and Range B's edges
        grid.cycle(voltage_pu=1.049)
        grid.cycle(voltage_pu=1.055)  # outside A, inside B: a deviation
        grid.cycle(voltage_pu=1.049)
        grid.cycle(voltage_pu=1.060)  # outside B again
    incident = grid.incidents().get()
    assert incident.status == IncidentStatus.OPEN
    assert grid.alerts().count() == 1


def test_a_worsening_deviation_updates_the_open_incident():
    grid = Grid()
    grid.cycle(voltage_pu=1.07)
    grid.cycle(voltage_pu=1.12)  # beyond the IEEE 1547 first over-voltage trip
    grid.cycle(voltage_pu=1.08)
    incident = grid.incidents().get()
    assert incident.severity == IncidentSeverity.HIGH
    assert incident.worst_value == pytest.approx(1.12)
    assert "1.120 pu" in incident.description


def test_under_voltage_beyond_the_fast_trip_is_critical():
    grid = Grid()
    grid.cycle(voltage_pu=0.40)
    assert grid.incidents().get().severity == IncidentSeverity.CRITICAL


def test_a_deviation_inside_range_b_opens_nothing():
    grid = Grid()
    grid.cycle(voltage_pu=1.055)
    grid.cycle(voltage_pu=0.93)
    assert not GridIncident.objects.exists()


def test_after_archiving_a_new_excursion_is_a_new_incident():
    grid = Grid()
    policy_update(substation=grid.substation, user=None, changes={"resolve_hold_s": 60})
    grid.cycle(voltage_pu=1.07)
    grid.cycle_for(65, voltage_pu=1.0)
    grid.cycle(voltage_pu=0.90)
    assert list(grid.incidents().values_list("status", flat=True).order_by("pk")) == [
        IncidentStatus.ARCHIVED,
        IncidentStatus.OPEN,
    ]
    assert grid.alerts().get().incident == grid.incidents().order_by("pk").last()


def test_frequency_beyond_half_a_hertz_opens_an_incident():
    grid = Grid()
    grid.cycle(frequency_hz=59.8)  # inside 0.5 Hz: a deviation, not an incident
    assert not grid.incidents(IncidentKind.FREQUENCY).exists()
    grid.cycle(frequency_hz=59.4)
    grid.cycle(frequency_hz=58.4)  # beyond the 58.5 Hz trip
    incident = grid.incidents(IncidentKind.FREQUENCY).get()
    assert incident.severity == IncidentSeverity.HIGH
    assert incident.worst_value == pytest.approx(58.4)


def test_a_stale_reading_opens_a_stale_incident_and_freezes_voltage():
    grid = Grid()
    grid.cycle(voltage_pu=1.07)
    grid.t += timedelta(seconds=60)  # no reading for a minute
    cycle_run(substation_id=grid.substation.pk, now=grid.t)
    stale = grid.incidents(IncidentKind.STALE).get()
    assert stale.severity == IncidentSeverity.MODERATE
    assert stale.worst_value == pytest.approx(61.0)
    # The voltage incident is neither cleared nor archived while blind.
    assert grid.incidents().get().cleared_at is None
    assert grid.alerts().count() == 2


def test_a_substation_that_never_reported_has_a_stale_incident():
    substation = make_substation()
    cycle_run(substation_id=substation.pk)
    incident = GridIncident.objects.get(substation=substation)
    assert incident.kind == IncidentKind.STALE
    assert incident.description == "no grid reading received yet"


def test_a_deficit_opens_an_insufficient_capacity_incident():
    grid = Grid(import_capacity_kw=1000.0)
    make_fleet(grid.substation, 2, last_telemetry_at=START + timedelta(seconds=60))
    grid.cycle(load_kw=1020.0)  # 20 kW needed, 10 kW available
    incident = grid.incidents(IncidentKind.INSUFFICIENT).get()
    assert incident.worst_value == pytest.approx(10.0)
    assert incident.severity == IncidentSeverity.MODERATE  # covers half
    assert "covers 50%" in incident.description


def test_the_database_refuses_a_second_live_incident_of_a_kind():
    grid = Grid()
    grid.cycle(voltage_pu=1.07)
    incident = grid.incidents().get()
    incident.pk = None
    with pytest.raises(IntegrityError):
        incident.save()


VOLTAGES = st.lists(
    st.one_of(
        st.floats(0.40, 1.25),
        st.sampled_from([*RANGE_A_PU, *RANGE_B_PU, 1.10, 1.20]),  # band edges
    ),
    min_size=1,
    max_size=60,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(voltages=VOLTAGES, hold_cycles=st.integers(0, 8))
def test_incident_bookkeeping_holds_for_any_voltage_sequence(voltages, hold_cycles):
    """Whatever the voltages: at most one live incident, exactly one alert per
    live incident, severity never falls, and archiving only after `hold` cycles
    inside Range A (resolved at the first of those readings, 1 s before its
    cycle)."""
    substation = make_substation()
    hold_s = hold_cycles * CYCLE_S
    nominal_run = 0
    severities: dict[int, int] = {}
    for step, voltage_pu in enumerate(voltages):
        now = START + timedelta(seconds=CYCLE_S * step)
        incidents_evaluate(
            substation_id=substation.pk,
            observation=Observation(
                nominal_frequency_hz=60,
                max_reading_age_s=15,
                reading_age_s=1.0,
                voltage_pu=voltage_pu,
                frequency_hz=60.0,
            ),
            hold_s=hold_s,
            now=now,
        )
        in_range_a = RANGE_A_PU[0] <= voltage_pu <= RANGE_A_PU[1]
        nominal_run = nominal_run + 1 if in_range_a else 0
        incidents = GridIncident.objects.filter(substation=substation)
        live = incidents.exclude(status=IncidentStatus.ARCHIVED)
        assert live.count() <= 1
        assert set(
            ActiveAlert.objects.filter(incident__substation=substation).values_list(
                "incident_id", flat=True
            )
        ) == set(live.values_list("pk", flat=True))
        for incident in incidents:
            assert incident.severity >= severities.get(incident.pk, 0)
            severities[incident.pk] = incident.severity
            if incident.archived_at == now:  # archived by this very step
                assert nominal_run >= hold_cycles + 1
                assert incident.resolved_at == now - timedelta(seconds=hold_s + 1)
        if not (RANGE_B_PU[0] <= voltage_pu <= RANGE_B_PU[1]):
            assert live.filter(status=IncidentStatus.OPEN).count() == 1
