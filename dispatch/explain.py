"""Why a run commanded what it did, in plain words, from the terms it records.

The admin's run page and the API show it; the numbers are the run's own
(DESIGN.md sections 3-5), nothing is recomputed.
"""

from __future__ import annotations

from dispatch.models import DispatchRun, Outcome


def _kw(value: float) -> str:
    return f"{value:,.1f} kW"


def _batteries(count: int) -> str:
    return f"{count} {'battery' if count == 1 else 'batteries'}"


def _limits(run: DispatchRun) -> str:
    counts = {
        "volt-watt": run.limited_by_volt_watt,
        "energy above reserve": run.limited_by_energy,
        "ramp limit": run.limited_by_ramp,
    }
    parts = [f"{count} by {what}" for what, count in counts.items() if count]
    if not parts:
        return ""
    below = _batteries(sum(counts.values()))
    return f" ({below} below rated power: {', '.join(parts)})"


def _seen(run: DispatchRun) -> list[str]:
    substation = run.substation
    said = [
        f"Load {_kw(run.load_kw or 0.0)} against an import capacity of "
        f"{_kw(substation.import_capacity_kw)}"
        + (f", less {_kw(run.manual_kw)} of manual setpoints" if run.manual_kw else "")
        + (
            f", less {_kw(run.over_frequency_kw)} for over-frequency"
            if run.over_frequency_kw
            else ""
        )
        + f": a load need of {_kw(run.load_need_kw)}."
    ]
    if run.frequency_response_kw:
        said.append(
            f"Frequency {run.frequency_hz:.3f} Hz is below the deadband around "
            f"{substation.nominal_frequency_hz} Hz: droop asks "
            f"{_kw(run.frequency_response_kw)} of the batteries."
        )
    if run.volt_watt_factor < 1.0:
        said.append(
            f"Voltage {run.voltage_pu:.3f} pu: volt-watt allows "
            f"{run.volt_watt_factor:.0%} of each battery's rated power."
        )
    said.append(
        f"The {_batteries(run.assets_active)} could give {_kw(run.capacity_kw)} "
        f"of {_kw(run.capacity_nameplate_kw)} nameplate{_limits(run)}."
    )
    return said


def run_explanation(run: DispatchRun) -> str:
    """One short paragraph: what the run saw, what it commanded, and why."""
    if run.outcome == Outcome.DISABLED:
        return (
            "Automatic dispatch is off for this substation: nothing new was commanded."
        )
    if run.outcome == Outcome.STALE:
        return (
            f"Nothing new was commanded: {run.detail}. Setpoints in force run out "
            "at their expiry (lowered if a battery can no longer give them)."
        )
    if run.outcome in (Outcome.SKIPPED, Outcome.ERROR):
        return f"{run.get_outcome_display()}: {run.detail}."
    said = _seen(run)
    if run.outcome == Outcome.NO_ASSETS:
        said.append("No battery was active with fresh telemetry: nothing commanded.")
    elif run.held and run.command_kw <= 0:
        said.append(
            "The command was smaller than the minimum change from nothing in "
            f"force, so no battery was commanded ({run.detail})."
        )
    elif run.held:
        said.append(
            f"The command moved less than the minimum change, so the "
            f"{_kw(run.command_kw)} in force on {_batteries(run.assets_commanded)} "
            "was kept and its expiry extended."
        )
    elif run.command_kw > 0:
        said.append(
            f"Commanded {_kw(run.command_kw)} to {_batteries(run.assets_commanded)}."
        )
    else:
        said.append("No need: every battery was commanded to 0 kW.")
    if run.imbalance_kw > 0:
        said.append(
            f"The fleet could not cover the {_kw(run.requirement_kw)} needed: "
            f"a deficit of {_kw(run.imbalance_kw)}."
        )
    elif run.requirement_kw > 0:
        said.append(f"{_kw(-run.imbalance_kw)} were held in reserve.")
    return " ".join(said)
