"""The admin as an owner's login sees it: its own rows in every list, page,
filter and lookup; another owner's object is a 404; its own record's contact
details and SMS consent are the only things it may change."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.db.models import Model
from django.test import RequestFactory
from django.utils import timezone

from assets.models import AssetTelemetry, DERAsset, Owner
from dispatch.models import SetpointCommand, SetpointReason
from grid.models import Substation
from incidents.models import Channel, Notification
from tests.conftest import make_battery, make_substation
from tests.test_incidents_admin import make_task

pytestmark = pytest.mark.django_db

# Every admin an owner's login may open, by URL: model label -> admin path.
OWNER_ADMINS = {
    "assets.Owner": "/admin/assets/owner/",
    "assets.DERAsset": "/admin/assets/derasset/",
    "assets.AssetTelemetry": "/admin/assets/assettelemetry/",
    "dispatch.SetpointCommand": "/admin/dispatch/setpointcommand/",
    "incidents.Notification": "/admin/incidents/notification/",
    "incidents.TechnicianTask": "/admin/incidents/techniciantask/",
}
AUTOCOMPLETE = "/admin/autocomplete/"


@dataclass
class Household:
    """An owner's login and one row of each kind it may see."""

    user: object
    rows: dict[str, Model]


def household_of(user) -> Household:
    owner = Owner.objects.get(user=user)
    asset = owner.assets.get()
    now = timezone.now()
    telemetry = AssetTelemetry.objects.create(
        asset=asset, measured_at=now, output_kw=1.5, state_of_charge=70.0
    )
    setpoint = SetpointCommand.objects.create(
        asset=asset,
        created_at=now,
        previous_kw=0.0,
        new_kw=2.0,
        reason=SetpointReason.CYCLE,
    )
    sms = Notification.objects.create(
        channel=Channel.SMS,
        recipient="+14155550123",
        template="discharge_started",
        idempotency_key=f"test-sms-{owner.pk}",
        owner=owner,
        next_attempt_at=now,
        created_at=now,
    )
    rows: list[Model] = [owner, asset, telemetry, setpoint, sms, make_task(asset)]
    return Household(user, {row._meta.label: row for row in rows})


@pytest.fixture
def ana(owner_user) -> Household:
    return household_of(owner_user)


@pytest.fixture
def ben(outsider) -> Household:
    return household_of(outsider)


def listed(client, url: str, **params) -> list[int]:
    page = client.get(url, params)
    assert page.status_code == 200
    return [row.pk for row in page.context["cl"].result_list]


@pytest.mark.parametrize("label", OWNER_ADMINS)
def test_an_owner_lists_only_their_own_rows(client, ana, ben, label):
    client.force_login(ana.user)
    assert listed(client, OWNER_ADMINS[label]) == [ana.rows[label].pk]
    client.force_login(ben.user)
    assert listed(client, OWNER_ADMINS[label]) == [ben.rows[label].pk]


@pytest.mark.parametrize("view", ["change", "history", "delete"])
@pytest.mark.parametrize("label", OWNER_ADMINS)
def test_another_owners_object_is_not_found_like_a_missing_one(
    client, ana, ben, label, view
):
    client.force_login(ana.user)
    url = OWNER_ADMINS[label]
    other = ben.rows[label].pk
    assert client.get(f"{url}{other}/{view}/").status_code == 404
    assert client.post(f"{url}{other}/{view}/", {"post": "yes"}).status_code == 404
    assert client.get(f"{url}999999/{view}/").status_code == 404
    assert ben.rows[label].__class__.objects.filter(pk=other).exists()


@pytest.mark.parametrize("label", OWNER_ADMINS)
def test_an_owner_reads_their_own_object_and_may_not_delete_it(client, ana, label):
    client.force_login(ana.user)
    url = f"{OWNER_ADMINS[label]}{ana.rows[label].pk}/"
    assert client.get(f"{url}change/").status_code == 200
    assert client.get(f"{url}history/").status_code == 200
    assert client.get(f"{url}delete/").status_code == 403


def test_every_other_admin_is_forbidden_to_an_owner(client, ana):
    """The audit: an admin that an owner may view must be one of OWNER_ADMINS
    (scoped and tested above); every other one answers 403."""
    client.force_login(ana.user)
    request = RequestFactory().get("/admin/")
    request.user = ana.user
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        url = f"/admin/{opts.app_label}/{opts.model_name}/"
        if model_admin.has_view_permission(request):
            assert opts.label in OWNER_ADMINS, opts.label
            continue
        assert client.get(url).status_code == 403, url
        pk = model._default_manager.values_list("pk", flat=True).first()
        if pk is not None:
            for view in ["change", "history", "delete"]:
                assert client.get(f"{url}{pk}/{view}/").status_code == 403, url


def test_the_owner_autocomplete_offers_only_their_own_record(client, ana, ben):
    client.force_login(ana.user)
    params = {"app_label": "assets", "model_name": "derasset", "field_name": "owner"}
    own, other = ana.rows["assets.Owner"], ben.rows["assets.Owner"]
    for term, expected in [("", [own.pk]), ("Owner", [own.pk]), (other.email, [])]:
        response = client.get(AUTOCOMPLETE, {**params, "term": term})
        assert response.status_code == 200
        assert [int(row["id"]) for row in response.json()["results"]] == expected


def test_searching_for_another_owner_finds_nothing(client, ana, ben):
    client.force_login(ana.user)
    other = ben.rows["assets.Owner"]
    for term in [other.name, other.email, ben.rows["assets.DERAsset"].uid]:
        assert listed(client, OWNER_ADMINS["assets.DERAsset"], q=term) == []
        assert listed(client, OWNER_ADMINS["assets.Owner"], q=term) == []
        assert listed(client, OWNER_ADMINS["incidents.TechnicianTask"], q=term) == []


@pytest.mark.parametrize(
    ("label", "path"),
    [
        ("assets.DERAsset", "substation"),
        ("incidents.TechnicianTask", "asset__substation"),
    ],
)
def test_related_filters_offer_only_the_owners_own_substations(
    client, ana, ben, label, path
):
    own = ana.rows["assets.DERAsset"]
    others = ben.rows["assets.DERAsset"].substation_id
    Substation.objects.filter(pk=others).update(code="bens-street", name="Ben St")
    second = make_battery(make_substation(), own.owner)
    make_task(second)
    client.force_login(ana.user)
    page = client.get(OWNER_ADMINS[label])
    specs = page.context["cl"].filter_specs
    (spec,) = [s for s in specs if getattr(s, "field_path", None) == path]
    offered = {pk for pk, _ in spec.lookup_choices}
    assert offered == {own.substation_id, second.substation_id}
    assert "bens-street" not in page.content.decode()


def test_an_owner_changes_contact_details_and_consent_and_nothing_else(client, ana):
    own: Owner = ana.rows["assets.Owner"]
    email, opted_out = own.email, timezone.now()
    Owner.objects.filter(pk=own.pk).update(sms_opted_out_at=opted_out)
    client.force_login(ana.user)
    url = f"{OWNER_ADMINS['assets.Owner']}{own.pk}/change/"
    form = client.get(url).context["adminform"].form
    assert sorted(form.fields) == ["name", "phone", "sms_consent"]
    response = client.post(
        url,
        {
            "name": "Ana Example",
            "phone": "+14155550199",
            "sms_consent": "on",
            "email": "taken@example.org",
            "user": "",
            "sms_opted_out_at_0": "",
            "sms_opted_out_at_1": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    own.refresh_from_db()
    assert (own.name, str(own.phone), own.sms_consent) == (
        "Ana Example",
        "+14155550199",
        True,
    )
    # STOP still governs: consent given again does not clear the opt-out.
    assert (own.email, own.user, own.sms_opted_out_at) == (email, ana.user, opted_out)


def test_an_owner_cannot_change_another_owners_record(client, ana, ben):
    other: Owner = ben.rows["assets.Owner"]
    client.force_login(ana.user)
    url = f"{OWNER_ADMINS['assets.Owner']}{other.pk}/change/"
    assert client.get(url).status_code == 404
    response = client.post(url, {"name": "Hijacked", "phone": "+14155550100"})
    assert response.status_code == 404
    other.refresh_from_db()
    assert (other.name, other.phone) != ("Hijacked", "+14155550100")


def test_an_owner_cannot_add_or_delete_owners_or_change_assets(client, ana):
    client.force_login(ana.user)
    request = RequestFactory().get("/admin/")
    request.user = ana.user
    own = ana.rows["assets.Owner"]
    for model in (Owner, DERAsset):
        model_admin = admin.site._registry[model]
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_delete_permission(request, own)
    assert client.get(f"{OWNER_ADMINS['assets.Owner']}add/").status_code == 403
    assert client.get(f"{OWNER_ADMINS['assets.DERAsset']}add/").status_code == 403
    asset = ana.rows["assets.DERAsset"]
    url = f"{OWNER_ADMINS['assets.DERAsset']}{asset.pk}/change/"
    response = client.post(url, {"name": "Mine now", "status": "inactive"})
    assert response.status_code == 403
    asset.refresh_from_db()
    assert (asset.name, asset.status) == ("Home battery", "active")


def test_staff_still_edit_every_owner_field(client, operator, ana):
    own: Owner = ana.rows["assets.Owner"]
    client.force_login(operator)
    url = f"{OWNER_ADMINS['assets.Owner']}{own.pk}/change/"
    form = client.get(url).context["adminform"].form
    assert {"email", "user", "sms_opted_out_at"} <= set(form.fields)
