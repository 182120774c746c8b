"""The operator dashboard at `/`: a page and the JSON it polls (docs/dashboard.md)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from dermgmt.dashboard import dashboard

PERMISSION = "dermgmt.view_dashboard"


@login_required
def dashboard_page(request):
    """Operators get the dashboard; other logins (owners, technicians) the admin."""
    if not request.user.has_perm(PERMISSION):
        return redirect("admin:index")
    return render(
        request,
        "dashboard.html",
        {
            "initial": dashboard(),
            "refresh_ms": int(settings.DASHBOARD_REFRESH_S * 1000),
        },
    )


@never_cache
@login_required
@permission_required(PERMISSION, raise_exception=True)
def dashboard_json(request) -> JsonResponse:
    return JsonResponse(dashboard())
