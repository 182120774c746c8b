"""`manage.py demo` builds a usable grid, idempotently, with working logins."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from assets.models import AssetKind, DERAsset, HardwareErrorCode, Owner
from forecasting.models import EnergyForecast
from grid.models import GridSensor, Substation

pytestmark = pytest.mark.django_db


def counts() -> dict:
    return {
        model.__name__: model.objects.count()
        for model in (
            Substation,
            GridSensor,
            Owner,
            DERAsset,
            HardwareErrorCode,
            PeriodicTask,
        )
    }


def test_it_builds_a_mixed_grid_and_is_safe_to_run_twice():
    out = io.StringIO()
    call_command("demo", stdout=out)
    first = counts()
    call_command("demo", stdout=io.StringIO())
    assert counts() == first
    assert first["Substation"] >= 3
    assert first["DERAsset"] >= 200
    kinds = set(DERAsset.objects.values_list("kind", flat=True))
    assert {AssetKind.BATTERY, AssetKind.PV, AssetKind.WIND} <= kinds
    assert not Owner.objects.filter(phone="").exists()
    assert HardwareErrorCode.objects.filter(severity="critical").exists()
    assert "operator / demo-operator-1" in out.getvalue()
    # forecasts are there at once, not after beat's first 15 minutes
    forecast = set(EnergyForecast.objects.values_list("substation", flat=True))
    assert forecast == set(Substation.objects.values_list("pk", flat=True))


def test_the_printed_logins_work(client):
    out = io.StringIO()
    call_command("demo", stdout=out)
    for username, password in [
        ("admin", "demo-admin-1"),
        ("operator", "demo-operator-1"),
        ("technician", "demo-technician-1"),
        ("owner", "demo-owner-1"),
    ]:
        assert f"{username} / {password}" in out.getvalue()
        assert authenticate(username=username, password=password) is not None
        assert client.login(username=username, password=password)
        assert client.get("/admin/").status_code == 200


def test_the_demo_owner_sees_only_their_own_assets(client):
    call_command("demo", stdout=io.StringIO())
    owner = Owner.objects.get(user__username="owner")
    client.login(username="owner", password="demo-owner-1")
    page = client.get("/admin/assets/derasset/")
    assert page.status_code == 200
    shown = {asset.pk for asset in page.context["cl"].result_list}
    assert shown == set(owner.assets.values_list("pk", flat=True))
    stranger = DERAsset.objects.exclude(owner=owner).first()
    assert client.get(f"/admin/assets/derasset/{stranger.pk}/change/").status_code in (
        302,
        404,
    )
