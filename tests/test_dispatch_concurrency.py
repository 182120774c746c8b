"""Two cycles of one substation started at the same moment: exactly one acts.

PostgreSQL only: its advisory lock is what keeps the cycles apart (SQLite
serialises every writer anyway).
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from dispatch.models import DispatchRun, Outcome, SetpointCommand
from dispatch.services import cycle_run
from tests.conftest import make_fleet, make_reading, make_substation

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="advisory locks are PostgreSQL's"
    ),
]


def race(substation_id: int, now, rounds: int = 2) -> list[DispatchRun]:
    barrier = threading.Barrier(rounds)
    runs: list[DispatchRun] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            barrier.wait()
            runs.append(cycle_run(substation_id=substation_id, now=now))
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one) for _ in range(rounds)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return runs


@pytest.mark.parametrize("attempt", range(5))
def test_exactly_one_of_two_simultaneous_cycles_acts(attempt):
    substation = make_substation(import_capacity_kw=0.0)
    batteries = make_fleet(substation, 200)
    make_reading(substation, load_kw=300.0)

    runs = race(substation.pk, timezone.now())

    outcomes = sorted(run.outcome for run in runs)
    assert outcomes == [Outcome.DISPATCHED, Outcome.SKIPPED]
    skipped = next(run for run in runs if run.outcome == Outcome.SKIPPED)
    assert skipped.detail in (
        "another cycle of this substation holds the lock",
        "this time slot has already been dispatched",
    )
    assert SetpointCommand.objects.count() == len(batteries)  # none lost, none doubled
    acted = next(run for run in runs if run.outcome == Outcome.DISPATCHED)
    assert acted.setpoints_changed == len(batteries)
