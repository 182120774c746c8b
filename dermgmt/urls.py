from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from django.views import defaults

from dermgmt.health import healthz
from dermgmt.views import dashboard_json, dashboard_page
from incidents.views import sms_inbound
from reports.views import report_pdf

admin.site.site_header = "dermgmt: distributed energy resources"
admin.site.site_title = "dermgmt"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/", include("dermgmt.api.urls")),
    path("sms/inbound/", sms_inbound, name="sms-inbound"),
    path("reports/<int:pk>/pdf/", report_pdf, name="report-pdf"),
    path("", dashboard_page, name="dashboard"),
    path("dashboard.json", dashboard_json, name="dashboard-json"),
]


def handler404(request, exception):
    """Under /api/, a path no route matches (a key that is not a slug) is a JSON
    404 like DRF's, not Django's HTML page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)
