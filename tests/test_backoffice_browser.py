"""The asset admin in headless Chromium (Debian's `chromium`, driven by
Playwright): an owner's login sees its own assets and not another owner's; a
back-office login imports a CSV through the upload, preview and confirm pages.
Leaves a screenshot of the preview in var/screenshots/import-preview.png."""

from __future__ import annotations

import pytest

from assets.models import DERAsset
from dermgmt import roles
from grid.models import Substation
from tests.browser import admin_login, chromium_launched, screenshot
from tests.conftest import make_battery, make_owner, make_substation, make_user
from tests.test_asset_import import csv_bytes, row

pytestmark = pytest.mark.django_db(transaction=True)  # the live server's thread

ASSETS = "/admin/assets/derasset/"


@pytest.fixture
def browser(tmp_path, monkeypatch):
    yield from chromium_launched(tmp_path, monkeypatch)


def owner_with_battery(username: str) -> DERAsset:
    """A login linked to an owner with one battery, `<username>-battery`, at
    substation `<username>-sub`."""
    user = make_user(username, roles.ASSET_OWNERS)
    substation = make_substation(code=f"{username}-sub")
    return make_battery(substation, make_owner(user=user), uid=f"{username}-battery")


@pytest.fixture
def clerk(db):
    """A back-office login, and the substation the files name."""
    make_substation(code="imp-sub")
    return make_user("clerk", roles.BACK_OFFICE)


def listed_uids(page) -> list[str]:
    return page.locator("#result_list tbody th.field-uid").all_inner_texts()


def test_an_owner_sees_only_their_own_assets(live_server, browser):
    owner_with_battery("ana")
    other = owner_with_battery("ben")
    page = browser.new_page()
    admin_login(page, live_server.url, "ana", "pw", next_url=ASSETS)

    assert listed_uids(page) == ["ana-battery"]
    # Neither in the list nor in a filter's choices.
    assert "ben-battery" not in page.content()
    assert "ben-sub" not in page.content()
    assert page.locator("a.import_link").count() == 0  # importing is back office's

    # Another owner's asset is answered as a missing one.
    for pk in (other.pk, other.pk + 1000):
        response = page.goto(f"{live_server.url}{ASSETS}{pk}/change/")
        assert response.status == 404
        assert "ben-battery" not in page.content()


def test_a_clerk_imports_a_file_after_its_preview(
    live_server, browser, clerk, tmp_path
):
    ana = make_owner(email="ana@example.org", name="Ana Ruiz", phone="+13035550101")
    make_battery(Substation.objects.get(code="imp-sub"), ana, uid="imp-3")
    upload = tmp_path / "assets.csv"
    upload.write_bytes(
        csv_bytes(
            row(uid="imp-1"),
            row(uid="imp-2", name="Barn battery", owner_email="ben@example.org"),
            row(uid="imp-3", name="Garage battery, renamed"),
        )
    )
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    admin_login(page, live_server.url, "clerk", "pw", next_url=ASSETS)

    page.get_by_role("link", name="Import", exact=True).click()
    page.set_input_files("input[name=import_file]", upload)
    page.click("input[type=submit][value=Submit]")
    summary = page.locator(".import-summary")
    summary.wait_for()
    assert summary.inner_text().startswith(
        "3 row(s): 2 asset(s) would be created, 1 updated, 0 unchanged; "
        "1 owner(s) created, 0 updated."
    )
    preview = page.locator("table.import-preview tbody tr")
    assert [r.locator("td").all_inner_texts() for r in preview.all()] == [
        ["New", "2", "imp-1", ""],
        ["New", "3", "imp-2", ""],
        ["Update", "4", "imp-3", "name, latitude, longitude"],
    ]
    screenshot(page, "import-preview.png")
    # The preview is a dry run.
    assert list(DERAsset.objects.values_list("uid", "name")) == [
        ("imp-3", "Home battery")
    ]

    page.click("input[type=submit][value='Confirm import']")
    page.wait_for_url(f"{live_server.url}{ASSETS}")
    assert page.locator(".messagelist").inner_text() == (
        "Import finished: 2 new, 1 updated, 0 deleted and 0 skipped DER assets."
    )
    assert listed_uids(page) == ["imp-1", "imp-2", "imp-3"]
    imported = DERAsset.objects.order_by("uid").values_list(
        "uid", "name", "owner__email"
    )
    assert list(imported) == [
        ("imp-1", "Garage battery", "ana@example.org"),
        ("imp-2", "Barn battery", "ben@example.org"),
        ("imp-3", "Garage battery, renamed", "ana@example.org"),
    ]


def test_a_bad_row_is_shown_by_line_and_nothing_can_be_confirmed(
    live_server, browser, clerk, tmp_path
):
    upload = tmp_path / "assets.csv"
    upload.write_bytes(csv_bytes(row(), row(uid="imp-2", state_of_charge="140")))
    page = browser.new_page()
    admin_login(page, live_server.url, "clerk", "pw", next_url=f"{ASSETS}import/")

    page.set_input_files("input[name=import_file]", upload)
    page.click("input[type=submit][value=Submit]")
    bad = page.locator("table.import-preview tbody tr")
    bad.first.wait_for()
    assert bad.count() == 1
    assert bad.locator("td").first.inner_text() == "3"
    bad.locator("td.errors").hover()
    assert "between 0 and 100" in bad.locator(".validation-error-list").inner_text()
    assert page.locator("input[value='Confirm import']").count() == 0
    assert not DERAsset.objects.exists()
