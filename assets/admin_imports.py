"""The admin's CSV import and export of assets (docs/import.md).

Small files: django-import-export's upload, dry-run preview with every bad row,
and confirm. Files over ASSET_IMPORT_ASYNC_BYTES: stored as an AssetImport and
validated by a Celery task, whose page shows the progress, the bad rows, and
then a confirm button that imports in the background.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from import_export.admin import ImportExportMixin

from assets.models import AssetImport, AssetImportStatus
from assets.resources import AssetCSV, AssetResource
from assets.selectors import user_owner_id
from assets.services import asset_import_confirm, asset_import_start

IMPORT_PERMISSION = "assets.import_derasset"


class AssetImportExportMixin(ImportExportMixin):
    resource_classes = [AssetResource]
    formats = [AssetCSV]
    import_template_name = "admin/assets/import.html"
    skip_admin_log = True  # the import logs one entry per file, not per row
    skip_export_form = True  # one format, every column: the file an import reads

    def get_import_context_data(self, **kwargs):
        context = super().get_import_context_data(**kwargs)
        return {**context, "async_threshold": settings.ASSET_IMPORT_ASYNC_BYTES}

    def import_action(self, request: HttpRequest, **kwargs):
        upload = request.FILES.get("import_file")
        if (
            request.method == "POST"
            and upload is not None
            and upload.size > settings.ASSET_IMPORT_ASYNC_BYTES
        ):
            if not self.has_import_permission(request):
                raise PermissionDenied
            job = asset_import_start(user=request.user, upload=upload)
            messages.info(
                request,
                f"{upload.name} is large: it is being validated in the background.",
            )
            return HttpResponseRedirect(
                reverse("admin:assets_assetimport_change", args=[job.pk])
            )
        return super().import_action(request, **kwargs)


@admin.register(AssetImport)
class AssetImportAdmin(admin.ModelAdmin):
    """Background imports: progress, bad rows, confirm. Read-only; each login
    sees its own if it is owner-scoped (`assets.selectors.user_owner_id`)."""

    list_display = ["file_name", "user", "status", "progress", "summary", "created_at"]
    list_filter = ["status"]
    ordering = ["-created_at"]
    change_form_template = "admin/assets/assetimport/change_form.html"
    fields = [
        "file_name",
        "user",
        "status",
        "progress",
        "summary",
        "created_at",
        "finished_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request) -> QuerySet[AssetImport]:
        rows = super().get_queryset(request).select_related("user")
        if user_owner_id(request.user) is not None:
            rows = rows.filter(user=request.user)
        return rows

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm(IMPORT_PERMISSION)

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="progress")
    def progress(self, job: AssetImport) -> str:
        share = min(100, round(100 * job.rows_read / max(1, job.lines - 1)))
        if job.status == AssetImportStatus.IMPORTING and job.rows_read >= job.lines - 1:
            return "writing"
        return format_html(
            '<progress max="100" value="{}"></progress> {} %', share, share
        )

    def get_urls(self):
        return [
            path(
                "<int:pk>/confirm/",
                self.admin_site.admin_view(self.confirm_view),
                name="assets_assetimport_confirm",
            ),
            *super().get_urls(),
        ]

    def confirm_view(self, request: HttpRequest, pk: int):
        if request.method != "POST" or not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(self.get_queryset(request), pk=pk)
        if asset_import_confirm(job=job):
            messages.info(request, f"Importing {job.file_name} in the background.")
        else:
            messages.warning(request, "This file is not waiting for confirmation.")
        return HttpResponseRedirect(
            reverse("admin:assets_assetimport_change", args=[job.pk])
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = get_object_or_404(self.get_queryset(request), pk=object_id)
        running = job.status in (
            AssetImportStatus.VALIDATING,
            AssetImportStatus.IMPORTING,
        )
        extra_context = {
            **(extra_context or {}),
            "job": job,
            "running": running,
            "more_errors": job.error_count - len(job.errors),
            "show_save": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)
