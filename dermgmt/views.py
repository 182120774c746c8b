"""The operator dashboard at `/`: a page and the JSON it polls (docs/dashboard.md);
the page a locked-out login gets."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from dermgmt.dashboard import dashboard

PERMISSION = "dermgmt.view_dashboard"


# Live grid data: no browser or proxy keeps a copy (Cache-Control: no-store).
@never_cache
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


def login_locked_out(request, original_response=None, credentials=None) -> HttpResponse:
    """django-axes' answer to a locked-out login (AXES_LOCKOUT_CALLABLE): 429, in
    the admin's look, saying why and for how long."""
    cool_off_s = int(settings.AXES_COOLOFF_TIME.total_seconds())
    context = {
        **admin.site.each_context(request),
        "title": "Login locked",
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cool_off_minutes": round(cool_off_s / 60),
    }
    response = render(request, "admin/login_locked.html", context, status=429)
    response["Retry-After"] = str(cool_off_s)
    return response
