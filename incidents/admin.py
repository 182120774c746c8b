"""Operators read incidents and the active-alerts list; the maintenance team works
technician tasks through actions that call the services (nothing else is theirs
to change but a task's notes)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.utils import timezone

from assets.admin import OwnerScopedAdmin
from dermgmt.admin import ReadOnlyAdmin
from incidents import services
from incidents.models import (
    PENDING_TASK,
    ActiveAlert,
    GridIncident,
    Notification,
    NotificationStatus,
    TechnicianTask,
)
from incidents.notifications import notification_resend
from incidents.selectors import notifications_visible_to, tasks_visible_to


class TaskInline(admin.TabularInline):
    model = TechnicianTask
    fields = ["asset", "error_code", "priority", "status", "assignee", "due_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        """Only the tasks this login may see (an owner's: of its own assets)."""
        return super().get_queryset(request) & tasks_visible_to(user=request.user)


@admin.register(GridIncident)
class GridIncidentAdmin(ReadOnlyAdmin):
    list_display = [
        "opened_at",
        "substation",
        "kind",
        "severity",
        "status",
        "worst_value",
        "resolved_at",
        "duration",
    ]
    list_filter = ["status", "kind", "severity", "substation"]
    list_select_related = ["substation"]
    search_fields = ["description", "substation__code"]
    date_hierarchy = "opened_at"
    ordering = ["-opened_at"]
    inlines = [TaskInline]

    @admin.display(description="duration")
    def duration(self, incident: GridIncident) -> str:
        seconds = incident.duration_s
        return "" if seconds is None else f"{seconds / 60:.1f} min"


@admin.register(ActiveAlert)
class ActiveAlertAdmin(ReadOnlyAdmin):
    list_display = ["raised_at", "substation", "kind", "severity", "status", "what"]
    list_display_links = ["raised_at"]
    list_filter = ["incident__kind", "incident__severity", "incident__substation"]
    list_select_related = ["incident__substation"]
    ordering = ["-raised_at"]

    @admin.display(ordering="incident__substation__code")
    def substation(self, alert: ActiveAlert):
        return alert.incident.substation

    @admin.display(ordering="incident__kind")
    def kind(self, alert: ActiveAlert) -> str:
        return alert.incident.get_kind_display()

    @admin.display(ordering="-incident__severity")
    def severity(self, alert: ActiveAlert) -> str:
        return alert.incident.get_severity_display()

    @admin.display()
    def status(self, alert: ActiveAlert) -> str:
        return alert.incident.get_status_display()

    @admin.display()
    def what(self, alert: ActiveAlert) -> str:
        return alert.incident.description


class OverdueFilter(admin.SimpleListFilter):
    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", "Overdue"), ("no", "On time")]

    def queryset(self, request, queryset):
        overdue = Q(status__in=PENDING_TASK, due_at__lt=timezone.now())
        if self.value() == "yes":
            return queryset.filter(overdue)
        if self.value() == "no":
            return queryset.exclude(overdue)
        return queryset


@admin.register(TechnicianTask)
class TechnicianTaskAdmin(OwnerScopedAdmin):
    list_display = [
        "pk",
        "priority",
        "status",
        "asset",
        "substation",
        "error_code",
        "assignee",
        "due_at",
        "overdue",
    ]
    list_display_links = ["pk", "asset"]
    list_filter = ["status", "priority", "asset__substation", OverdueFilter]
    list_select_related = ["asset__substation", "error_code", "assignee"]
    search_fields = ["asset__uid", "error_code__code", "notes"]
    ordering = ["status", "priority", "due_at"]
    actions = ["claim", "start", "done", "cancel", "return_to_service"]
    fields = [
        "asset",
        "error_code",
        "incident",
        "priority",
        "status",
        "assignee",
        "due_at",
        "created_at",
        "assigned_at",
        "started_at",
        "closed_at",
        "closed_by",
        "asset_returned_at",
        "notes",
    ]
    readonly_fields = [name for name in fields if name != "notes"]

    def visible(self, request):
        return tasks_visible_to(user=request.user)

    def has_add_permission(self, request):
        return False  # tasks come from hardware faults

    def has_delete_permission(self, request, obj=None):
        return False  # kept as history

    def has_work_permission(self, request) -> bool:
        return request.user.has_perm("incidents.work_techniciantask")

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("incidents.cancel_techniciantask")

    @admin.display(ordering="asset__substation__code")
    def substation(self, task: TechnicianTask):
        return task.asset.substation

    @admin.display(boolean=True)
    def overdue(self, task: TechnicianTask) -> bool:
        return task.status in PENDING_TASK and task.due_at < timezone.now()

    def _apply(self, request, queryset, service, verb: str) -> None:
        done = 0
        for task_id in queryset.values_list("pk", flat=True):
            try:
                service(task_id=task_id, user=request.user)
                done += 1
            except (ValidationError, PermissionDenied) as error:
                text = "; ".join(getattr(error, "messages", [str(error)]))
                self.message_user(request, text, messages.ERROR)
        if done:
            self.message_user(request, f"{verb} {done} task(s).", messages.SUCCESS)

    @admin.action(permissions=["work"], description="Claim (assign to me)")
    def claim(self, request, queryset):
        self._apply(request, queryset, services.task_claim, "Claimed")

    @admin.action(permissions=["work"], description="Start work")
    def start(self, request, queryset):
        self._apply(request, queryset, services.task_start, "Started")

    @admin.action(permissions=["work"], description="Mark done")
    def done(self, request, queryset):
        self._apply(request, queryset, services.task_done, "Finished")

    @admin.action(permissions=["cancel"], description="Cancel")
    def cancel(self, request, queryset):
        self._apply(request, queryset, services.task_cancel, "Cancelled")

    @admin.action(permissions=["work"], description="Return the asset to service")
    def return_to_service(self, request, queryset):
        self._apply(
            request, queryset, services.task_asset_return, "Returned the asset of"
        )


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin, OwnerScopedAdmin):
    """The outbox: read-only, with a resend action for failed rows."""

    list_display = [
        "created_at",
        "channel",
        "recipient",
        "template",
        "status",
        "attempts",
        "sent_at",
        "last_error",
    ]
    list_filter = ["status", "channel", "template"]
    search_fields = ["recipient", "subject", "body", "provider_message_id"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    actions = ["resend"]
    show_full_result_count = False

    def visible(self, request):
        return notifications_visible_to(user=request.user)

    def has_resend_permission(self, request) -> bool:
        return request.user.has_perm("incidents.resend_notification")

    @admin.action(permissions=["resend"], description="Resend (failed rows only)")
    def resend(self, request, queryset):
        ids = queryset.filter(status=NotificationStatus.FAILED).values_list(
            "pk", flat=True
        )
        sent = sum(notification_resend(notification_id=pk) for pk in ids)
        self.message_user(request, f"{sent} notification(s) queued again.")
