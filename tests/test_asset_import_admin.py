"""The admin's CSV import (upload, preview, confirm; big files in the background)
and export, and who may use them (docs/import.md)."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.admin.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from assets.models import AssetImport, AssetImportStatus, DERAsset
from dermgmt import roles
from tests.conftest import make_battery, make_owner, make_substation, make_user
from tests.test_asset_import import csv_bytes, row

IMPORT_URL = "/admin/assets/derasset/import/"
CONFIRM_URL = "/admin/assets/derasset/process_import/"
EXPORT_URL = "/admin/assets/derasset/export/"


@pytest.fixture
def clerk(db, client):
    make_substation(code="imp-sub")
    user = make_user("clerk", roles.BACK_OFFICE)
    client.force_login(user)
    return user


def upload(data: bytes, name: str = "assets.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="text/csv")


def test_upload_preview_then_confirm(client, clerk):
    page = client.get(IMPORT_URL)
    assert page.status_code == 200 and b"docs/import.md" in page.content
    preview = client.post(
        IMPORT_URL,
        {"format": "0", "import_file": upload(csv_bytes(row(), row(uid="imp-2")))},
    )
    text = preview.content.decode()
    assert "2 row(s): 2 asset(s) would be created" in text
    assert "imp-2" in text and "Confirm import" in text
    assert not DERAsset.objects.exists()  # the preview is a dry run
    confirm = preview.context["confirm_form"]
    done = client.post(CONFIRM_URL, confirm.initial)
    assert done.status_code == 302
    assert DERAsset.objects.count() == 2
    entry = LogEntry.objects.get(user=clerk)
    assert entry.object_repr == "CSV import assets.csv"
    assert "2 asset(s) were created" in entry.change_message


def test_a_bad_file_shows_every_bad_row_and_no_confirm_button(client, clerk):
    data = csv_bytes(row(), row(uid="b", state_of_charge="140"), row(uid="c", kind="x"))
    text = client.post(IMPORT_URL, {"format": "0", "import_file": upload(data)})
    text = text.content.decode()
    assert "Confirm import" not in text
    assert "State of charge must be between 0 and 100" in text
    assert "<td>3 </td>" in text and "<td>4 </td>" in text  # line numbers
    header = client.post(IMPORT_URL, {"format": "0", "import_file": upload(b"a;b\n")})
    assert "Line 1: The columns are separated by" in header.content.decode()
    assert not DERAsset.objects.exists()


@override_settings(ASSET_IMPORT_ASYNC_BYTES=100)
def test_a_big_file_is_checked_and_imported_in_the_background(
    client, clerk, django_capture_on_commit_callbacks
):
    data = csv_bytes(*(row(uid=f"big-{i}") for i in range(20)))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            IMPORT_URL, {"format": "0", "import_file": upload(data, "big.csv")}
        )
    job = AssetImport.objects.get()
    assert response.url == f"/admin/assets/assetimport/{job.pk}/change/"
    assert (job.status, job.rows_read, job.lines) == (AssetImportStatus.VALID, 20, 21)
    assert job.file.storage.exists(job.file.name)  # kept for the confirmation
    page = client.get(response.url).content.decode()
    assert "Confirm import" in page and "20 asset(s) would be created" in page
    assert not DERAsset.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/admin/assets/assetimport/{job.pk}/confirm/")
    job.refresh_from_db()
    assert job.status == AssetImportStatus.DONE and job.finished_at
    assert not job.file  # the owners' details are not kept once imported
    assert DERAsset.objects.count() == 20
    assert LogEntry.objects.get(user=clerk).object_repr == "CSV import big.csv"
    # confirming twice does nothing
    client.post(f"/admin/assets/assetimport/{job.pk}/confirm/")
    assert AssetImport.objects.get().status == AssetImportStatus.DONE


@override_settings(ASSET_IMPORT_ASYNC_BYTES=100)
def test_a_big_bad_file_lists_its_bad_rows(
    client, clerk, django_capture_on_commit_callbacks
):
    data = csv_bytes(*(row(uid=f"big-{i}", state_of_charge="140") for i in range(5)))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(IMPORT_URL, {"format": "0", "import_file": upload(data)})
    job = AssetImport.objects.get()
    assert (job.status, job.error_count) == (AssetImportStatus.INVALID, 5)
    page = client.get(response.url).content.decode()
    assert "Confirm import" not in page and "<td>6</td>" in page


def test_the_export_has_the_import_columns_and_escapes_formulas(client, clerk):
    owner = make_owner(name="@SUM(A1)")
    make_battery(make_substation(), owner, uid="exp-1", name="=2+5")
    response = client.get(EXPORT_URL)
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:5] == ["uid", "name", "kind", "status", "owner_email"]
    assert rows[1][:2] == ["exp-1", "'=2+5"] and rows[1][5] == "'@SUM(A1)"


def test_owners_export_their_own_assets_and_may_not_import(
    client, owner_user, outsider
):
    client.force_login(owner_user)
    exported = client.get(EXPORT_URL).content.decode()
    assert "owners-own-battery" in exported and "outsiders-battery" not in exported
    assert client.get(IMPORT_URL).status_code == 403
    assert client.post(CONFIRM_URL, {}).status_code == 403
    assert client.get("/admin/assets/assetimport/").status_code == 403


def test_import_is_its_own_permission(client, db):
    viewer = make_user("viewer", roles.MAINTENANCE)  # views assets
    client.force_login(viewer)
    assert client.get(IMPORT_URL).status_code == 403
    assert client.get(EXPORT_URL).status_code == 200


def test_superusers_read_the_admin_log_and_no_one_else(client, clerk, operator):
    LogEntry.objects.create(
        user=clerk,
        content_type_id=None,
        object_repr="CSV import a.csv",
        action_flag=1,
        change_message="3 row(s): 3 asset(s) were created",
    )
    client.force_login(operator)
    assert client.get("/admin/admin/logentry/").status_code == 403
    client.force_login(make_user("root", is_superuser=True))
    page = client.get("/admin/admin/logentry/").content.decode()
    assert "CSV import a.csv" in page and "3 asset(s) were created" in page
