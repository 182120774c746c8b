"""Owner isolation (issue 17, items 1 and 14): what an owner-scoped login sees
through every door, for three logins:

- `linked`: an Asset Owners login linked to its owner record: its own rows only;
- `unlinked`: an Asset Owners login that was never linked: nothing;
- `just_unlinked`: a linked owner, signed in, whose User field the back office
  has just cleared in the admin: nothing from its next request on, not even the
  rows of its former owner record.

The matrix enumerates the API's router and the admin site's registry, so a new
endpoint or admin is covered without touching this file: one that an owner's
login may read must hold owner data listed in OWNER_DATA and be scoped; every
other one must refuse it (403). Another household's rows, and the former rows
of the unlinked owner, must never appear.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.contrib import admin
from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.core.cache import cache
from django.db.models import Model
from django.test import RequestFactory
from django.utils import timezone
from rest_framework.test import APIClient

from assets.imports import assets_import
from assets.models import AssetTelemetry, DERAsset, Owner
from assets.selectors import assets_visible_to, owners_visible_to, user_owner_id
from assets.services import telemetry_ingest
from dermgmt import roles
from dermgmt.api.urls import router
from dermgmt.ingest import BatchInvalid
from grid.models import Substation
from tests.conftest import make_battery, make_owner, make_substation, make_user
from tests.test_api import (
    make_command,
    make_notification,
    make_task,
    make_telemetry,
    with_token,
)
from tests.test_asset_import import csv_bytes, row

pytestmark = pytest.mark.django_db

LOGINS = ["linked", "unlinked", "just_unlinked"]

# The models that hold an owner's data, as an owner's login may read them; each
# household below has exactly one row of each.
OWNER_DATA = [
    "assets.Owner",
    "assets.DERAsset",
    "assets.AssetTelemetry",
    "dispatch.SetpointCommand",
    "incidents.Notification",
    "incidents.TechnicianTask",
]

# API list filters aimed at another household's rows, by router prefix: they
# must find nothing.
AIMED_FILTERS = {
    "owners": lambda h: [{"email": h.owner.email}],
    "assets": lambda h: [
        {"owner": h.owner.pk},
        {"substation__code": h.asset.substation.code},
    ],
    "telemetry": lambda h: [
        {"asset": h.asset.uid},
        {"substation": h.asset.substation.code},
    ],
    "setpoint-commands": lambda h: [{"asset": h.asset.uid}],
    "technician-tasks": lambda h: [],
    "notifications": lambda h: [],
}
# Filters every household's row matches: they must find the login's own.
MATCHING_FILTERS = {
    "owners": [],
    "assets": [{"kind": "battery", "status": "active"}],
    "telemetry": [],
    "setpoint-commands": [{"reason": "cycle"}],
    "technician-tasks": [{"status": "open"}, {"priority": 1}],
    "notifications": [{"channel": "email"}],
}


@pytest.fixture(autouse=True)
def no_throttle_carry_over():
    cache.clear()
    yield
    cache.clear()


@dataclass
class Household:
    """An owner with one row of each kind of owner data."""

    owner: Owner
    rows: dict[str, Model]

    @property
    def asset(self) -> DERAsset:
        return self.rows["assets.DERAsset"]  # type: ignore[return-value]

    @property
    def markers(self) -> list[str]:
        """Strings that name this household and no other."""
        return [self.owner.email, self.asset.uid, self.asset.substation.code]


def household_of(owner: Owner, tag: str) -> Household:
    asset = owner.assets.get()
    Substation.objects.filter(pk=asset.substation_id).update(code=f"{tag}-street")
    asset.refresh_from_db()
    rows: list[Model] = [
        owner,
        asset,
        make_telemetry(asset),
        make_command(asset),
        make_notification(owner),
        make_task(asset),
    ]
    return Household(owner, {row._meta.label: row for row in rows})


@dataclass
class Seat:
    """A login under test, signed in (web and API share its session), what it
    must see, and the households it must never see."""

    kind: str
    user: object
    client: APIClient
    own: Household | None
    others: list[Household] = field(default_factory=list)

    def own_pks(self, label: str) -> list[object]:
        return [] if self.own is None else [self.own.rows[label].pk]

    def other_rows(self, label: str) -> list[Model]:
        return [household.rows[label] for household in self.others]

    def other_markers(self) -> list[str]:
        return [marker for house in self.others for marker in house.markers]


def signed_in(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def back_office_unlinks(owner: Owner) -> None:
    """The back office clears the owner's User field in the admin."""
    clerk = make_user("clerk", roles.BACK_OFFICE)
    response = signed_in(clerk).post(
        f"/admin/assets/owner/{owner.pk}/change/",
        {
            "name": owner.name,
            "email": owner.email,
            "phone": "",
            "sms_consent": "",
            "user": "",
            "sms_opted_out_at_0": "",
            "sms_opted_out_at_1": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    owner.refresh_from_db()
    assert owner.user_id is None


@pytest.fixture
def seat(request, owner_user, outsider) -> Seat:
    """The login named by the test's `kind` parameter, in a world of three
    households: its own (linked), the outsider's, and one whose login was
    unlinked."""
    kind = request.param
    ana = household_of(Owner.objects.get(user=owner_user), "ana")
    ben = household_of(Owner.objects.get(user=outsider), "ben")
    cleo_user = make_user("cleo", roles.ASSET_OWNERS)
    cleo_owner = make_owner(user=cleo_user)
    make_battery(make_substation(), cleo_owner, uid="cleos-battery")
    cleo = household_of(cleo_owner, "cleo")
    if kind == "linked":
        return Seat(kind, owner_user, signed_in(owner_user), ana, [ben, cleo])
    if kind == "unlinked":
        nobody = make_user("nobody", roles.ASSET_OWNERS)
        return Seat(kind, nobody, signed_in(nobody), None, [ana, ben, cleo])
    client = signed_in(cleo_user)  # a session opened while still linked
    back_office_unlinks(cleo_owner)
    return Seat(kind, cleo_user, client, None, [ana, ben, cleo])


def by_login(kinds=LOGINS):
    return pytest.mark.parametrize("seat", kinds, indirect=True)


def assert_shows_nothing_of_others(seat: Seat, text: str) -> None:
    for marker in seat.other_markers():
        assert marker not in text, marker


# --- API -------------------------------------------------------------------------

API = [(prefix, viewset) for prefix, viewset, _ in router.registry]


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content[:500]
    return response.json()["results"]


@by_login()
@pytest.mark.parametrize(("prefix", "viewset"), API, ids=[p for p, _ in API])
def test_every_api_list_shows_a_login_its_own_rows_or_refuses_it(seat, prefix, viewset):
    """Every list: owner data scoped to the login's owner (nothing when it has
    none), with every ordering and the filters aimed at another household; any
    other endpoint answers 403."""
    url = f"/api/v1/{prefix}/"
    label = viewset.queryset.model._meta.label
    response = seat.client.get(url)
    if label not in OWNER_DATA:
        assert response.status_code == 403, url
        return
    assert viewset.owner_field is not None, "owner data without owner_field"
    ordering = [
        {"ordering": f"{sign}{name}"}
        for name in getattr(viewset, "ordering_fields", None) or []
        for sign in ("", "-")
    ]
    for other in seat.others:
        for params in AIMED_FILTERS[prefix](other):
            assert results(seat.client.get(url, params)) == [], params
    matching = [{}, {"page_size": 1000}, *ordering, *MATCHING_FILTERS[prefix]]
    for params in matching:
        response = seat.client.get(url, params)
        rows, text = results(response), response.content.decode()
        assert_shows_nothing_of_others(seat, text)
        if seat.own is None:
            assert rows == [], params
        else:
            assert len(rows) == 1, params
            assert any(marker in text for marker in seat.own.markers), params


DETAILS = [(prefix, viewset) for prefix, viewset in API if hasattr(viewset, "retrieve")]


@by_login()
@pytest.mark.parametrize(("prefix", "viewset"), DETAILS, ids=[p for p, _ in DETAILS])
def test_every_api_detail_of_another_owner_is_not_found(seat, prefix, viewset):
    """A detail of another household's row (or of the login's former owner) is a
    404, like a missing key; the login's own row is a 200."""
    label = viewset.queryset.model._meta.label
    lookup = viewset.lookup_field.replace("__id", "_id")
    if label not in OWNER_DATA:
        row = viewset.queryset.model._default_manager.first()
        if row is not None:
            key = getattr(row, lookup)
            assert seat.client.get(f"/api/v1/{prefix}/{key}/").status_code == 403
        return
    for row in seat.other_rows(label):
        url = f"/api/v1/{prefix}/{getattr(row, lookup)}/"
        assert seat.client.get(url).status_code == 404, url
    if seat.own is not None:
        own = seat.own.rows[label]
        url = f"/api/v1/{prefix}/{getattr(own, lookup)}/"
        assert seat.client.get(url).status_code == 200, url


@by_login(["unlinked", "just_unlinked"])
def test_a_token_of_an_owner_login_without_an_owner_reads_nothing(seat):
    """A token acts as its user: the same scoping, so nothing."""
    api, _ = with_token(seat.user, "read")
    for prefix in ["owners", "assets", "telemetry", "notifications"]:
        assert results(api.get(f"/api/v1/{prefix}/")) == []
    for other in seat.others:
        assert api.get(f"/api/v1/assets/{other.asset.uid}/").status_code == 404


@by_login(["unlinked", "just_unlinked"])
def test_an_owner_login_without_an_owner_may_command_no_setpoint(seat):
    """Even given the setpoint permission, it finds no asset to command (404)
    and no setpoint changes."""
    seat.user.user_permissions.add(Permission.objects.get(codename="command_setpoint"))
    for other in seat.others:
        response = seat.client.post(
            f"/api/v1/assets/{other.asset.uid}/setpoint/",
            {"target_output_kw": 1.0},
            format="json",
        )
        assert response.status_code == 404
    assert not DERAsset.objects.filter(target_output_kw__gt=0).exists()


# --- Admin -----------------------------------------------------------------------

ADMINS = list(admin.site._registry.items())


def admin_url(model) -> str:
    return f"/admin/{model._meta.app_label}/{model._meta.model_name}/"


def may_view(user, model_admin) -> bool:
    request = RequestFactory().get("/admin/")
    request.user = user
    return model_admin.has_view_permission(request)


def admin_variants(seat: Seat, model_admin) -> list[dict]:
    """The changelist as a list, searched for each other household, ordered by
    every column, drilled down by date, opened as a raw-id popup."""
    variants: list[dict] = [{}, {"_popup": "1", "_to_field": "id"}]
    if model_admin.search_fields:
        variants += [{"q": marker} for marker in seat.other_markers()]
    for index in range(len(model_admin.list_display)):
        variants.append({"o": f"-{index}"})
    if model_admin.date_hierarchy:
        year = str(timezone.now().year)
        variants.append({f"{model_admin.date_hierarchy}__year": year})
    return variants


@by_login()
@pytest.mark.parametrize(
    ("model", "model_admin"), ADMINS, ids=[m._meta.label for m, _ in ADMINS]
)
def test_every_admin_list_shows_a_login_its_own_rows_or_refuses_it(
    seat, model, model_admin
):
    """Every admin changelist (search, ordering, date drill-down, filters' choices
    and raw-id popup included) shows an owner's login its own rows only, none
    without an owner; an admin of anything but owner data answers 403."""
    label, url = model._meta.label, admin_url(model)
    if not may_view(seat.user, model_admin):
        assert seat.client.get(url).status_code == 403, url
        return
    assert label in OWNER_DATA, f"{label}: an owner may view it, scope it"
    for params in admin_variants(seat, model_admin):
        page = seat.client.get(url, params)
        assert page.status_code == 200, (url, params)
        shown = [row.pk for row in page.context["cl"].result_list]
        if "q" in params:  # the search box repeats the term
            assert shown == [], (url, params)
            continue
        assert_shows_nothing_of_others(seat, page.content.decode())
        assert shown == seat.own_pks(label), (url, params)


VIEWS = ["change", "history", "delete"]


@by_login()
@pytest.mark.parametrize(
    ("model", "model_admin"), ADMINS, ids=[m._meta.label for m, _ in ADMINS]
)
def test_every_admin_page_of_another_owners_row_is_not_found(seat, model, model_admin):
    """Change, history and delete pages of another household's row (or of the
    login's former owner) are a 404, GET and POST, and change nothing; the
    login's own row opens (its delete is refused, 403). An admin of anything but
    owner data refuses the login (403)."""
    label, url = model._meta.label, admin_url(model)
    if not may_view(seat.user, model_admin):
        row = model._default_manager.first()
        for view in VIEWS if row is not None else []:
            assert seat.client.get(f"{url}{row.pk}/{view}/").status_code == 403
        return
    posted = {"post": "yes", "name": "Hijacked", "phone": "+14155550100"}
    for row, view in [(row, view) for row in seat.other_rows(label) for view in VIEWS]:
        page = f"{url}{row.pk}/{view}/"
        assert seat.client.get(page).status_code == 404, page
        assert seat.client.post(page, posted).status_code == 404, page
        assert model._default_manager.filter(pk=row.pk).exists()
    assert not Owner.objects.filter(name="Hijacked").exists()
    if seat.own is not None:
        own = seat.own.rows[label].pk
        for view, expected in [("change", 200), ("history", 200), ("delete", 403)]:
            assert seat.client.get(f"{url}{own}/{view}/").status_code == expected


AUTOCOMPLETES = [
    (model, name)
    for model, model_admin in ADMINS
    for name in model_admin.autocomplete_fields
]


@by_login()
@pytest.mark.parametrize(
    ("model", "field_name"),
    AUTOCOMPLETES,
    ids=[f"{m._meta.label}.{n}" for m, n in AUTOCOMPLETES],
)
def test_every_admin_autocomplete_offers_only_the_logins_own_rows(
    seat, model, field_name
):
    """An autocomplete of owner data offers the login's own rows, searched or
    not; another household's are never offered, not even by exact email."""
    related = model._meta.get_field(field_name).related_model
    params = {
        "app_label": model._meta.app_label,
        "model_name": model._meta.model_name,
        "field_name": field_name,
    }
    own = seat.own_pks(related._meta.label)
    for term, expected in [("", own), *[(m, []) for m in seat.other_markers()]]:
        response = seat.client.get("/admin/autocomplete/", {**params, "term": term})
        assert response.status_code in (200, 403)
        if response.status_code == 200:
            found = [int(row["id"]) for row in response.json()["results"]]
            assert found == expected, term


EXPORTS = [
    (model, model_admin)
    for model, model_admin in ADMINS
    if hasattr(model_admin, "export_action")
]


@by_login()
@pytest.mark.parametrize(
    ("model", "model_admin"), EXPORTS, ids=[m._meta.label for m, _ in EXPORTS]
)
def test_every_admin_export_holds_only_the_logins_own_rows(seat, model, model_admin):
    """A CSV export holds the login's own rows, only a header without an owner."""
    response = seat.client.get(f"{admin_url(model)}export/")
    if not may_view(seat.user, model_admin):
        assert response.status_code == 403
        return
    assert response.status_code == 200
    text = response.content.decode()
    assert_shows_nothing_of_others(seat, text)
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 + len(seat.own_pks(model._meta.label))
    if seat.own is not None:
        assert seat.own.asset.uid in text


# --- The rule itself -------------------------------------------------------------


def test_an_owner_role_login_without_an_owner_is_scoped_to_no_owner(db):
    """The rule follows the role and fails closed: no linked owner is no rows,
    not every row."""
    make_battery(make_substation(), make_owner())
    nobody = make_user("nobody", roles.ASSET_OWNERS)
    assert user_owner_id(nobody) is not None
    assert not owners_visible_to(user=nobody).exists()
    assert not assets_visible_to(user=nobody).exists()


def test_a_login_in_an_owner_role_and_a_staff_role_is_scoped(db):
    """Owner role plus a staff role: still scoped (fail closed), to its own
    owner if linked, to nothing if not."""
    other = make_owner()
    make_battery(make_substation(), other)
    both = make_user("both", roles.ASSET_OWNERS)
    both.groups.add(*roles_named(roles.OPERATORS))
    assert not assets_visible_to(user=both).exists()
    mine = make_owner(user=both)
    own = make_battery(make_substation(), mine)
    assert list(assets_visible_to(user=both)) == [own]


def test_a_staff_login_linked_to_an_owner_is_scoped_to_it(db):
    """A link to an owner scopes whatever the roles: the link says whose login
    it is."""
    make_battery(make_substation(), make_owner())
    operator = make_user("linked-operator", roles.OPERATORS)
    own = make_battery(make_substation(), make_owner(user=operator))
    assert list(assets_visible_to(user=operator)) == [own]


@pytest.mark.parametrize(
    "role", [roles.OPERATORS, roles.MAINTENANCE, roles.BACK_OFFICE, None]
)
def test_staff_roles_without_an_owner_link_see_every_owner(db, role):
    """Operators, technicians, the back office (and a login in no role, whose
    permissions decide what it may open) are not scoped."""
    owners = [make_owner(), make_owner()]
    login = make_user("staff", role)
    assert user_owner_id(login) is None
    assert set(owners_visible_to(user=login)) == set(owners)


def test_a_superuser_in_the_owner_role_is_not_scoped(db):
    """A superuser sees everything, whatever its groups or link."""
    owners = [make_owner(), make_owner()]
    root = make_user("root", roles.ASSET_OWNERS, is_superuser=True)
    assert user_owner_id(root) is None
    assert set(owners_visible_to(user=root)) == set(owners)


def test_an_anonymous_user_is_scoped_to_nothing(db):
    """No login, no rows: the rule's default is closed."""
    make_owner()
    assert not owners_visible_to(user=AnonymousUser()).exists()


@by_login(["unlinked", "just_unlinked"])
def test_an_owner_login_without_an_owner_may_change_no_owner(seat):
    """The reported hole: such a login changed another owner's phone in the
    admin. Now every owner's change form is a 404 and nothing changes."""
    for other in seat.others:
        before = Owner.objects.get(pk=other.owner.pk)
        response = seat.client.post(
            f"/admin/assets/owner/{other.owner.pk}/change/",
            {
                "name": "Hijacked",
                "email": before.email,
                "phone": "+14155550100",
                "sms_consent": "on",
                "user": before.user_id or "",
                "sms_opted_out_at_0": "",
                "sms_opted_out_at_1": "",
            },
        )
        assert response.status_code == 404
        after = Owner.objects.get(pk=other.owner.pk)
        assert (after.name, after.phone) == (before.name, before.phone)


@by_login(["unlinked", "just_unlinked"])
def test_an_owner_login_without_an_owner_may_import_no_asset(seat):
    """The CSV import scoped by the same rule: every row refused, none written."""
    other = seat.others[0]
    data = csv_bytes(
        row(
            uid="new-1",
            owner_email=other.owner.email,
            substation=other.asset.substation.code,
        )
    )
    report = assets_import(data.splitlines(keepends=True), user=seat.user)
    assert report.errors
    assert not DERAsset.objects.filter(uid="new-1").exists()


def roles_named(*names: str) -> list[Group]:
    return list(Group.objects.filter(name__in=names))


# --- Telemetry ingest (item 14) --------------------------------------------------


def telemetry_item(uid: str, output_kw: float = 1.0) -> dict:
    return {
        "asset": uid,
        "measured_at": timezone.now().isoformat(),
        "output_kw": output_kw,
    }


def may_ingest(user) -> None:
    user.user_permissions.add(Permission.objects.get(codename="add_assettelemetry"))


def test_an_owner_with_the_ingest_permission_ingests_its_own_assets(owner_user):
    """The permission still works for the owner's own assets."""
    may_ingest(owner_user)
    api = signed_in(owner_user)
    response = api.post(
        "/api/v1/telemetry/", [telemetry_item("owners-own-battery")], format="json"
    )
    assert response.status_code == 201, response.content
    assert AssetTelemetry.objects.filter(asset__uid="owners-own-battery").count() == 1


def test_an_owners_ingest_for_another_owners_asset_is_refused_and_writes_nothing(
    owner_user, outsider
):
    """An item for another owner's asset is refused as an unknown asset (the
    same answer as for a missing one), and the batch writes nothing."""
    may_ingest(owner_user)
    api, _ = with_token(owner_user, "ingest")
    batch = [telemetry_item("owners-own-battery"), telemetry_item("outsiders-battery")]
    response = api.post("/api/v1/telemetry/", batch, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert list(errors) == ["1"] and "asset" in errors["1"]
    assert not AssetTelemetry.objects.exists()


@by_login(["unlinked", "just_unlinked"])
def test_an_owner_login_without_an_owner_may_ingest_for_no_asset(seat):
    """Given the ingest permission, it may write no asset's telemetry."""
    may_ingest(seat.user)
    before = AssetTelemetry.objects.count()
    batch = [telemetry_item(other.asset.uid) for other in seat.others]
    response = seat.client.post("/api/v1/telemetry/", batch, format="json")
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == {str(i) for i in range(len(batch))}
    assert AssetTelemetry.objects.count() == before


def test_staff_ingest_for_every_owners_asset(operator, owner_user, outsider):
    """An integration's staff login is not scoped: any asset."""
    api, _ = with_token(operator, "ingest")
    batch = [telemetry_item("owners-own-battery"), telemetry_item("outsiders-battery")]
    response = api.post("/api/v1/telemetry/", batch, format="json")
    assert response.status_code == 201, response.content
    assert AssetTelemetry.objects.count() == 2


def test_the_ingest_service_scopes_by_the_user_it_is_given(owner_user, outsider):
    """The rule lives in the service, not the door: given a user, only the
    assets that user may see; given none (an internal caller), every asset."""
    batch = [telemetry_item("outsiders-battery")]
    with pytest.raises(BatchInvalid) as refused:
        telemetry_ingest(data=batch, user=owner_user)
    assert list(refused.value.errors) == [0]
    assert not AssetTelemetry.objects.exists()
    assert telemetry_ingest(data=batch, user=None) == 1
