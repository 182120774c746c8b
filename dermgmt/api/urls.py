"""`/api/v1/`: every resource, its OpenAPI schema and the docs."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter

from assets.api import AssetTelemetryViewSet, DERAssetViewSet, OwnerViewSet
from dispatch.api import (
    AssetSetpointView,
    DispatchPolicyViewSet,
    DispatchRunViewSet,
    SetpointCommandViewSet,
)
from forecasting.api import EnergyForecastViewSet, WeatherForecastViewSet
from grid.api import GridReadingViewSet, GridSensorViewSet, SubstationViewSet
from incidents.api import (
    ActiveAlertViewSet,
    GridIncidentViewSet,
    NotificationViewSet,
    TechnicianTaskViewSet,
)
from reports.api import StabilityReportViewSet

router = DefaultRouter()
for prefix, viewset in [
    ("substations", SubstationViewSet),
    ("grid-sensors", GridSensorViewSet),
    ("grid-readings", GridReadingViewSet),
    ("owners", OwnerViewSet),
    ("assets", DERAssetViewSet),
    ("telemetry", AssetTelemetryViewSet),
    ("dispatch-policies", DispatchPolicyViewSet),
    ("dispatch-runs", DispatchRunViewSet),
    ("setpoint-commands", SetpointCommandViewSet),
    ("incidents", GridIncidentViewSet),
    ("active-alerts", ActiveAlertViewSet),
    ("technician-tasks", TechnicianTaskViewSet),
    ("weather-forecasts", WeatherForecastViewSet),
    ("energy-forecasts", EnergyForecastViewSet),
    ("stability-reports", StabilityReportViewSet),
    ("notifications", NotificationViewSet),
]:
    router.register(prefix, viewset, basename=prefix)

urlpatterns = [
    path(
        "v1/assets/<slug:uid>/setpoint/",
        AssetSetpointView.as_view({"post": "create"}),
        name="asset-setpoint",
    ),
    path("v1/", include(router.urls)),
    path(
        "schema/",
        SpectacularAPIView.as_view(permission_classes=[AllowAny]),
        name="schema",
    ),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="schema", permission_classes=[AllowAny]
        ),
        name="api-docs",
    ),
]
