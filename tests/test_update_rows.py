"""dermgmt.db.update_rows sets per-row values on many rows in one statement."""

from __future__ import annotations

import pytest
from django.utils import timezone

from assets.models import DERAsset
from dermgmt.db import update_rows
from tests.conftest import make_battery, make_owner

pytestmark = pytest.mark.django_db


def test_it_updates_each_row_with_its_own_values(substation, django_assert_num_queries):
    owner = make_owner()
    assets = [make_battery(substation, owner) for _ in range(5)]
    now = timezone.now()
    with django_assert_num_queries(1):
        changed = update_rows(
            model=DERAsset,
            pks=[a.pk for a in assets],
            columns={
                "state_of_charge": [10.0, 20.0, 30.0, 40.0, 50.0],
                "last_telemetry_at": [now] * 5,
            },
        )
    assert changed == 5
    stored = dict(DERAsset.objects.values_list("pk", "state_of_charge"))
    assert [stored[a.pk] for a in assets] == [10.0, 20.0, 30.0, 40.0, 50.0]
    assert set(DERAsset.objects.values_list("last_telemetry_at", flat=True)) == {now}


def test_it_does_nothing_for_no_rows():
    assert update_rows(model=DERAsset, pks=[], columns={"state_of_charge": []}) == 0


def test_it_splits_sqlite_statements_under_the_parameter_limit(substation, monkeypatch):
    monkeypatch.setattr("dermgmt.db.SQLITE_MAX_PARAMS", 4)
    owner = make_owner()
    assets = [make_battery(substation, owner) for _ in range(5)]
    update_rows(
        model=DERAsset,
        pks=[a.pk for a in assets],
        columns={"state_of_charge": [1.0, 2.0, 3.0, 4.0, 5.0]},
    )
    assert sorted(DERAsset.objects.values_list("state_of_charge", flat=True)) == [
        1.0,
        2.0,
        3.0,
        4.0,
        5.0,
    ]
