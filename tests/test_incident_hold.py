"""The hold before an incident is archived counts only observed time, and every
stored reading is judged, not only the newest (issue 16); ANSI C84.1 Range B
has its exact edges."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch.services import cycle_run, policy_update
from incidents.models import ActiveAlert, GridIncident, IncidentKind, IncidentStatus
from incidents.rules import RANGE_A_PU, RANGE_B_PU, Observation, voltage_finding
from incidents.services import incidents_evaluate
from tests.conftest import make_reading, make_sensor, make_substation

pytestmark = pytest.mark.django_db

START = timezone.now().replace(microsecond=0)
# The default policy: readings older than 15 s are stale, the hold is 300 s.
MAX_READING_AGE_S = 15
HOLD_S = 300


def at(seconds: float):
    return START + timedelta(seconds=seconds)


class Scene:
    """One substation on a simulated clock: readings stored at chosen times,
    cycles run at chosen times (t in seconds from START)."""

    def __init__(self):
        self.substation = make_substation()

    def reading(self, t: float, voltage_pu: float = 1.0, **fields):
        make_reading(
            self.substation, measured_at=at(t), voltage_pu=voltage_pu, **fields
        )

    def cycle(self, t: float):
        return cycle_run(substation_id=self.substation.pk, now=at(t))

    def fresh_cycles(self, start: int, end: int, voltage_pu: float = 1.0):
        """A reading 1 s before each cycle, cycles every 5 s in [start, end]."""
        for t in range(start, end + 1, 5):
            self.reading(t - 1, voltage_pu)
            self.cycle(t)

    def voltage_incidents(self):
        return GridIncident.objects.filter(
            substation=self.substation, kind=IncidentKind.VOLTAGE
        ).order_by("pk")

    def incident(self) -> GridIncident:
        return self.voltage_incidents().get()

    def alerts(self):
        return ActiveAlert.objects.filter(
            incident__substation=self.substation,
            incident__kind=IncidentKind.VOLTAGE,
        )


def resolved_at_5_s() -> Scene:
    """1.07 pu seen by the cycle at t = 0 (an incident), 1.00 pu by the one at
    t = 5 s: resolved, holding since its reading at t = 4 s."""
    scene = Scene()
    scene.reading(-1, 1.07)
    scene.cycle(0)
    scene.reading(4, 1.00)
    scene.cycle(5)
    incident = scene.incident()
    assert incident.status == IncidentStatus.RESOLVED
    assert incident.cleared_at == at(4)
    return scene


# --- The blind spell ----------------------------------------------------------------


def test_a_blind_spell_restarts_the_hold_instead_of_counting_toward_it():
    """Resolved at t = 5 s, then only stale cycles to t = 400 s, then one nominal
    reading (t = 404 s, cycle 405 s): 400 s have passed, but none of it was
    observed, so the incident is not archived; the hold starts again at 404 s
    and ends after 300 s of fresh nominal readings: reading 704 s, cycle 705 s."""
    scene = resolved_at_5_s()
    for t in range(10, 401, 5):  # no reading: stale from t = 20 s (age 16 s > 15 s)
        scene.cycle(t)
    assert scene.incident().status == IncidentStatus.RESOLVED

    scene.reading(404)
    scene.cycle(405)
    incident = scene.incident()
    assert incident.status == IncidentStatus.RESOLVED  # not archived
    assert incident.cleared_at == at(404)  # the hold restarted here
    assert scene.alerts().count() == 1

    scene.fresh_cycles(410, 700)  # last reading 699 s: 699 - 404 = 295 s observed
    assert scene.incident().status == IncidentStatus.RESOLVED

    scene.fresh_cycles(705, 705)  # reading 704 s: 704 - 404 = 300 s observed
    incident = scene.incident()
    assert incident.status == IncidentStatus.ARCHIVED
    assert incident.resolved_at == at(404)
    assert incident.archived_at == at(705)
    assert not scene.alerts().exists()


def test_a_stale_cycle_restarts_the_hold_even_if_the_readings_come_late():
    """Holding since 4 s; readings at 9 s, then nothing until the cycle at 25 s
    (newest reading 16 s old: stale). A reading measured at 19 s arrives late,
    10 s after its predecessor: fresh as a pair, but the cycle at 25 s was blind,
    so the hold restarts at 19 s, not 4 s."""
    scene = resolved_at_5_s()
    scene.reading(9)
    scene.cycle(10)
    scene.cycle(15)
    scene.cycle(20)  # newest reading 11 s old: still fresh
    assert scene.incident().cleared_at == at(4)
    scene.cycle(25)  # 16 s old: stale
    assert scene.incident().cleared_at is None
    assert scene.incident().status == IncidentStatus.RESOLVED

    scene.reading(19)  # late
    scene.reading(29)
    scene.cycle(30)
    assert scene.incident().cleared_at == at(19)


def test_a_gap_between_readings_longer_than_the_reading_age_restarts_the_hold():
    """Readings 10 s apart count toward the hold; one 20 s after its predecessor
    (more than 15 s) starts it again, even when no cycle saw the gap as stale
    (the cycles themselves did not run)."""
    scene = resolved_at_5_s()
    scene.reading(14)  # 10 s after 4 s: observed
    scene.cycle(15)
    assert scene.incident().cleared_at == at(4)
    scene.reading(34)  # 20 s after 14 s: blind in between
    scene.cycle(35)
    assert scene.incident().cleared_at == at(34)


# --- Every reading is judged --------------------------------------------------------


def test_a_bad_reading_stored_in_a_gap_in_cycles_restarts_the_hold():
    """Holding since 4 s; no cycle runs from 5 s to 310 s while readings are
    stored every 5 s (9 s to 304 s), one of them 0.88 pu at 154 s. The cycle at
    310 s judges all of them: the incident is open again at 154 s (worst value
    0.88 pu), and the hold restarts at the next nominal reading, 159 s, so it is
    not archived (304 - 159 = 145 s < 300 s) although 300 s have passed since
    4 s. It is archived at the reading 459 s = 159 + 300."""
    scene = resolved_at_5_s()
    for t in range(9, 305, 5):
        scene.reading(t, 0.88 if t == 154 else 1.0)
    scene.cycle(310)
    incident = scene.incident()
    assert incident.status == IncidentStatus.RESOLVED
    assert incident.cleared_at == at(159)
    assert incident.worst_value == pytest.approx(0.88)  # further from 1.0 than 1.07
    assert "0.880 pu" in incident.description

    scene.fresh_cycles(315, 455)  # last reading 454 s: 295 s observed
    assert scene.incident().status == IncidentStatus.RESOLVED
    scene.fresh_cycles(460, 460)  # reading 459 s
    incident = scene.incident()
    assert incident.status == IncidentStatus.ARCHIVED
    assert incident.resolved_at == at(159)


def test_a_bad_reading_stored_between_two_cycles_opens_an_incident():
    """No incident; cycles at 0 s and 60 s only, readings every 5 s between them,
    one of them 0.88 pu (outside Range B) at 24 s, the newest nominal. The cycle
    at 60 s opens an incident at 24 s, resolved since 29 s, not archived."""
    scene = Scene()
    scene.reading(-1)
    scene.cycle(0)
    for t in range(4, 60, 5):
        scene.reading(t, 0.88 if t == 24 else 1.0)
    scene.cycle(60)
    incident = scene.incident()
    assert incident.opened_at == at(24)
    assert incident.worst_value == pytest.approx(0.88)
    assert incident.status == IncidentStatus.RESOLVED
    assert incident.cleared_at == at(29)
    assert scene.alerts().count() == 1


def test_readings_of_every_sensor_are_judged_in_time_order():
    """Two sensors report 1.0 pu and, in between, 1.07 pu at 7 s: the cycle at
    10 s sees the newest (1.0 pu at 9 s) but opens an incident at 7 s."""
    scene = Scene()
    one, two = make_sensor(scene.substation), make_sensor(scene.substation)
    make_reading(scene.substation, sensor=one, measured_at=at(4), voltage_pu=1.0)
    make_reading(scene.substation, sensor=two, measured_at=at(7), voltage_pu=1.07)
    make_reading(scene.substation, sensor=one, measured_at=at(9), voltage_pu=1.0)
    scene.cycle(10)
    incident = scene.incident()
    assert incident.opened_at == at(7)
    assert incident.cleared_at == at(9)


def test_a_reading_already_judged_is_not_judged_again():
    """With no hold, 1.07 pu at 4 s opens an incident and 1.0 pu at 9 s archives
    it at once. The cycle at 15 s reads back max_reading_age_s = 15 s, which
    still holds the 1.07 pu reading, but judges only what follows the
    watermark (9 s): no second incident."""
    scene = Scene()
    policy_update(substation=scene.substation, user=None, changes={"resolve_hold_s": 0})
    scene.reading(4, 1.07)
    scene.cycle(5)
    scene.fresh_cycles(10, 15)
    incidents = list(scene.voltage_incidents())
    assert [incident.status for incident in incidents] == [IncidentStatus.ARCHIVED]
    assert incidents[0].archived_at == at(10)


# --- ANSI C84.1 Range B -------------------------------------------------------------


def test_the_ranges_are_the_standards_volts_on_the_120_v_base():
    """Range A 114-126 V, Range B 110-127 V, on 120 V: 114/120 = 0.95,
    126/120 = 1.05, 110/120 = 0.91666..., 127/120 = 1.05833..."""
    a_low, a_high = RANGE_A_PU
    b_low, b_high = RANGE_B_PU
    assert (a_low, a_high) == (0.95, 1.05)
    assert b_low == pytest.approx(0.916_666_666_667, abs=1e-12)
    assert b_high == pytest.approx(1.058_333_333_333, abs=1e-12)


@pytest.mark.parametrize(
    ("voltage_pu", "opens"),
    [
        (0.9167, False),  # 110.004 V: inside Range B, a deviation
        (1.0583, False),  # 126.996 V
        (0.9166, True),  # 109.992 V: outside Range B
        (1.0584, True),  # 127.008 V
    ],
)
def test_range_b_edges_are_exact(voltage_pu, opens):
    """0.9167 and 1.0583 pu lie inside 110/120-127/120 pu: no incident;
    0.9166 and 1.0584 pu lie outside: an incident."""
    finding = voltage_finding(voltage_pu=voltage_pu)
    assert not finding.nominal
    assert (finding.severity is not None) is opens
    scene = Scene()
    scene.reading(4, voltage_pu)
    scene.cycle(5)
    assert scene.voltage_incidents().exists() is opens


# --- Cost ---------------------------------------------------------------------------


def evaluate(substation, *, now, voltage_pu=1.0, reading_age_s=1.0):
    """incidents_evaluate as the cycle calls it (its newest reading 1 s old)."""
    return incidents_evaluate(
        substation_id=substation.pk,
        observation=Observation(
            nominal_frequency_hz=60,
            max_reading_age_s=MAX_READING_AGE_S,
            reading_age_s=reading_age_s,
            voltage_pu=voltage_pu,
            frequency_hz=60.0,
        ),
        hold_s=HOLD_S,
        now=now,
    )


@pytest.mark.parametrize("count", [1, 60])
def test_an_evaluation_takes_three_statements_whatever_the_number_of_readings(
    count, django_assert_num_queries
):
    """Live incidents and watermark, the new readings, the watermark's move."""
    scene = Scene()
    scene.reading(-1)
    evaluate(scene.substation, now=at(0))
    for n in range(1, count + 1):  # between the two evaluations, the last at 4 s
        scene.reading(n * 4 / count)
    with django_assert_num_queries(3):
        evaluate(scene.substation, now=at(5))
    assert not GridIncident.objects.exists()


@pytest.mark.parametrize("count", [1, 60])
def test_bad_readings_open_one_incident_in_the_same_statements_whatever_their_number(
    count, django_assert_num_queries
):
    """Plus the incident and its alert: 5 statements, however many readings."""
    scene = Scene()
    scene.reading(-1)
    evaluate(scene.substation, now=at(0))
    worst = 1.07 + count / 1000
    for n in range(1, count + 1):  # 1.071 pu, 1.072 pu, ... at 4 s the worst
        scene.reading(n * 4 / count, 1.07 + n / 1000)
    with django_assert_num_queries(5):
        evaluate(scene.substation, now=at(5), voltage_pu=worst)
    assert scene.incident().worst_value == pytest.approx(worst)


def test_an_evaluation_without_a_new_reading_takes_one_statement(
    django_assert_num_queries,
):
    """Only the live incidents and watermark: no readings to read, none to mark."""
    scene = Scene()
    scene.reading(4)
    evaluate(scene.substation, now=at(5))
    with django_assert_num_queries(1):  # the same newest reading, now 2 s old
        evaluate(scene.substation, now=at(6), reading_age_s=2.0)
