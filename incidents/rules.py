"""When the grid is abnormal, and how badly: pure functions (no database).

Each rule turns what a grid reading or a cycle saw into a `Finding` for one
incident kind:
nominal (an open incident may start its hold toward archiving), a deviation
(not worth an incident, but an open one stays open) or a severity (open or
worsen an incident). The bands are the standards' (docs/incidents.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from incidents.models import IncidentKind, IncidentSeverity

# ANSI C84.1-2020 service voltage ranges, defined in volts on the 120-V base
# (Range A 114-126 V, Range B 110-127 V), so the per-unit edges are exact.
BASE_V = 120.0
RANGE_A_V = (114.0, 126.0)
RANGE_B_V = (110.0, 127.0)
RANGE_A_PU = (RANGE_A_V[0] / BASE_V, RANGE_A_V[1] / BASE_V)  # 0.95-1.05 pu
RANGE_B_PU = (RANGE_B_V[0] / BASE_V, RANGE_B_V[1] / BASE_V)  # 0.916667-1.058333 pu
# IEEE 1547-2018 voltage trip settings (category II defaults): first and fast.
UNDER_VOLTAGE_TRIP_PU = (0.70, 0.45)
OVER_VOLTAGE_TRIP_PU = (1.10, 1.20)

# Frequency, as an offset from nominal in Hz on a 60 Hz grid (scaled on 50 Hz).
FREQUENCY_NOMINAL_HZ = 0.1  # the report's "inside +/-0.1 Hz"
FREQUENCY_SIGNIFICANT_HZ = 0.5  # EN 50160's normal band (49.5-50.5 Hz)
# IEEE 1547-2018 frequency trips: 58.5 / 61.2 Hz (300 s), 56.5 / 62.0 Hz (0.16 s).
UNDER_FREQUENCY_TRIP_HZ = (1.5, 3.5)
OVER_FREQUENCY_TRIP_HZ = (1.2, 2.0)

# Stale readings: blind this long is worse than late.
STALE_HIGH_S = 300.0
# Insufficient capacity: the fleet covers less than this share of the requirement.
INSUFFICIENT_HIGH_SHARE = 0.5


@dataclass(frozen=True)
class Finding:
    kind: str
    value: float
    description: str
    severity: IncidentSeverity | None = None
    nominal: bool = False


@dataclass(frozen=True)
class Observation:
    """What one cycle saw at a substation. None: not known this cycle."""

    nominal_frequency_hz: float
    max_reading_age_s: float
    reading_age_s: float | None = None  # None: the substation never reported
    voltage_pu: float | None = None
    frequency_hz: float | None = None
    requirement_kw: float | None = None  # None: dispatch did not evaluate it
    deficit_kw: float | None = None

    @property
    def fresh(self) -> bool:
        """The cycle saw a reading no older than the policy allows."""
        age = self.reading_age_s
        return age is not None and age <= self.max_reading_age_s


def _trip_severity(beyond_first: bool, beyond_fast: bool) -> IncidentSeverity:
    if beyond_fast:
        return IncidentSeverity.CRITICAL
    if beyond_first:
        return IncidentSeverity.HIGH
    return IncidentSeverity.MODERATE


def voltage_finding(*, voltage_pu: float) -> Finding:
    """Range A is nominal; outside Range B opens an incident; trips raise it."""
    v = voltage_pu
    text = f"voltage {v:.3f} pu"
    if RANGE_A_PU[0] <= v <= RANGE_A_PU[1]:
        return Finding(IncidentKind.VOLTAGE, v, f"{text}, inside Range A", nominal=True)
    if RANGE_B_PU[0] <= v <= RANGE_B_PU[1]:
        return Finding(IncidentKind.VOLTAGE, v, f"{text}, outside ANSI C84.1 Range A")
    severity = _trip_severity(
        v <= UNDER_VOLTAGE_TRIP_PU[0] or v >= OVER_VOLTAGE_TRIP_PU[0],
        v <= UNDER_VOLTAGE_TRIP_PU[1] or v >= OVER_VOLTAGE_TRIP_PU[1],
    )
    return Finding(
        IncidentKind.VOLTAGE,
        v,
        f"{text}, outside ANSI C84.1 Range B "
        f"({RANGE_B_PU[0]:.4f}-{RANGE_B_PU[1]:.4f} pu)",
        severity=severity,
    )


def frequency_finding(*, frequency_hz: float, nominal_hz: float) -> Finding:
    """Within 0.1 Hz is nominal; beyond 0.5 Hz opens an incident; trips raise it."""
    scale = nominal_hz / 60.0
    offset = frequency_hz - nominal_hz
    text = f"frequency {frequency_hz:.3f} Hz ({offset:+.3f} Hz)"
    if abs(offset) <= FREQUENCY_NOMINAL_HZ:
        return Finding(IncidentKind.FREQUENCY, frequency_hz, text, nominal=True)
    if abs(offset) <= FREQUENCY_SIGNIFICANT_HZ:
        return Finding(IncidentKind.FREQUENCY, frequency_hz, text)
    trips = UNDER_FREQUENCY_TRIP_HZ if offset < 0 else OVER_FREQUENCY_TRIP_HZ
    severity = _trip_severity(
        abs(offset) >= trips[0] * scale, abs(offset) >= trips[1] * scale
    )
    return Finding(
        IncidentKind.FREQUENCY,
        frequency_hz,
        f"{text}, beyond +/-{FREQUENCY_SIGNIFICANT_HZ} Hz of nominal",
        severity=severity,
    )


def stale_finding(*, reading_age_s: float | None, max_age_s: float) -> Finding:
    if reading_age_s is None:
        return Finding(
            IncidentKind.STALE,
            0.0,
            "no grid reading received yet",
            severity=IncidentSeverity.MODERATE,
        )
    text = f"latest grid reading is {reading_age_s:.0f} s old (limit {max_age_s:g} s)"
    if reading_age_s <= max_age_s:
        return Finding(IncidentKind.STALE, reading_age_s, text, nominal=True)
    severity = (
        IncidentSeverity.HIGH
        if reading_age_s >= STALE_HIGH_S
        else IncidentSeverity.MODERATE
    )
    return Finding(IncidentKind.STALE, reading_age_s, text, severity=severity)


def insufficient_finding(*, requirement_kw: float, deficit_kw: float) -> Finding:
    if deficit_kw <= 0:
        return Finding(
            IncidentKind.INSUFFICIENT, 0.0, "the fleet covers the need", nominal=True
        )
    covered = 1 - deficit_kw / requirement_kw if requirement_kw > 0 else 0.0
    severity = (
        IncidentSeverity.HIGH
        if covered < INSUFFICIENT_HIGH_SHARE
        else IncidentSeverity.MODERATE
    )
    return Finding(
        IncidentKind.INSUFFICIENT,
        deficit_kw,
        f"deficit of {deficit_kw:.1f} kW: the fleet covers {covered:.0%} "
        f"of the {requirement_kw:.1f} kW needed",
        severity=severity,
    )


def reading_findings(
    *, voltage_pu: float, frequency_hz: float, nominal_hz: float
) -> list[Finding]:
    """What one grid reading says about voltage and frequency."""
    return [
        voltage_finding(voltage_pu=voltage_pu),
        frequency_finding(frequency_hz=frequency_hz, nominal_hz=nominal_hz),
    ]


def cycle_findings(observation: Observation) -> list[Finding]:
    """What one cycle says about itself: how old its reading is and, when it
    evaluated dispatch, whether the fleet covers the need. Voltage and frequency
    come from the readings themselves (`reading_findings`), every one of them."""
    o = observation
    found = [
        stale_finding(reading_age_s=o.reading_age_s, max_age_s=o.max_reading_age_s)
    ]
    if o.requirement_kw is not None and o.deficit_kw is not None:
        found.append(
            insufficient_finding(
                requirement_kw=o.requirement_kw, deficit_kw=o.deficit_kw
            )
        )
    return found


def continues(previous_at: datetime | None, at: datetime, *, max_age_s: float) -> bool:
    """Whether a reading at `at` continues the observation of the one before it:
    no more than `max_age_s` apart. A longer gap is a blind spell."""
    if previous_at is None:
        return False
    return (at - previous_at).total_seconds() <= max_age_s


def worse(kind: str, value: float, than: float, *, nominal: float) -> bool:
    """Whether `value` is further from nominal than `than` (for worst_value)."""
    if kind in (IncidentKind.VOLTAGE, IncidentKind.FREQUENCY):
        return abs(value - nominal) > abs(than - nominal)
    return value > than
