from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.utils import timezone
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from dermgmt.api.auth import token_create
from dermgmt.models import ApiScope, ApiToken, Heartbeat
from dermgmt.schedule import safety_names


class ReadOnlyAdmin(admin.ModelAdmin):
    """History and state written by services: visible, never edited or deleted
    through the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Heartbeat)
class HeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["name", "beat_at"]
    ordering = ["name"]


class ApiTokenForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiScope.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ApiToken
        fields = ["name", "user", "scopes"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Integration tokens: the key is shown once, on creation; revoke, never edit."""

    form = ApiTokenForm
    list_display = [
        "name",
        "prefix",
        "user",
        "scopes",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request)

    def save_model(self, request, obj, form, change) -> None:
        token, key = token_create(
            name=obj.name, user=obj.user, scopes=form.cleaned_data["scopes"]
        )
        obj.pk = token.pk
        self.message_user(
            request,
            f"Token {token.prefix} made. Its key, shown this once: {key}",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request, queryset) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        self.message_user(request, f"{count} token(s) revoked.", messages.SUCCESS)


@admin.register(LogEntry)
class LogEntryAdmin(ReadOnlyAdmin):
    """The admin log, for audit: who changed or imported what, and when (CSV
    imports are one entry per file with its counts: docs/import.md). Superusers
    only: it names objects of every owner."""

    list_display = ["action_time", "user", "content_type", "object_repr", "action"]
    list_filter = ["action_flag", "content_type"]
    search_fields = ["object_repr", "change_message", "user__username"]
    date_hierarchy = "action_time"
    list_select_related = ["user", "content_type"]

    @admin.display(description="what")
    def action(self, entry: LogEntry) -> str:
        return entry.get_change_message() or entry.get_action_flag_display()

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser


# --- Beat's schedule: safety entries are owned by code --------------------------------

SAFETY_WARNING = (
    "Safety task, owned by code (dermgmt/schedule.py): read-only except for "
    "superusers. Beat puts it back as code says when it starts, and /healthz "
    "reports it while it is missing, disabled or different."
)


def safety_locked(request, task: PeriodicTask | None) -> bool:
    return (
        task is not None
        and task.name in safety_names()
        and not request.user.is_superuser
    )


admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class SafePeriodicTaskAdmin(beat_admin.PeriodicTaskAdmin):
    """django-celery-beat's admin, with the safety entries read-only for every role
    but superusers: not in the form, not in the bulk actions, not deleted."""

    list_display = [
        "name",
        "owned_by_code",
        *beat_admin.PeriodicTaskAdmin.list_display[1:],
    ]

    @admin.display(description="owned by code", boolean=True)
    def owned_by_code(self, task: PeriodicTask) -> bool:
        return task.name in safety_names()

    def has_change_permission(self, request, obj=None) -> bool:
        return not safety_locked(request, obj) and super().has_change_permission(
            request, obj
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return not safety_locked(request, obj) and super().has_delete_permission(
            request, obj
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        task = self.get_object(request, object_id)
        if task is not None and task.name in safety_names():
            self.message_user(request, SAFETY_WARNING, messages.WARNING)
        return super().change_view(request, object_id, form_url, extra_context)

    def unlocked(self, request, queryset):
        """The selection without the safety rows (for all but superusers)."""
        if request.user.is_superuser:
            return queryset
        locked = sorted(
            queryset.filter(name__in=safety_names()).values_list("name", flat=True)
        )
        if locked:
            self.message_user(
                request,
                f"Left unchanged: {', '.join(locked)}. {SAFETY_WARNING}",
                messages.WARNING,
            )
        return queryset.exclude(name__in=safety_names())

    def delete_queryset(self, request, queryset) -> None:
        super().delete_queryset(request, self.unlocked(request, queryset))

    @admin.action(description="Enable selected tasks", permissions=["change"])
    def enable_tasks(self, request, queryset):
        super().enable_tasks(request, self.unlocked(request, queryset))

    @admin.action(description="Disable selected tasks", permissions=["change"])
    def disable_tasks(self, request, queryset):
        super().disable_tasks(request, self.unlocked(request, queryset))

    @admin.action(
        description="Toggle activity of selected tasks", permissions=["change"]
    )
    def toggle_tasks(self, request, queryset):
        super().toggle_tasks(request, self.unlocked(request, queryset))

    @admin.action(description="Run selected tasks", permissions=["change"])
    def run_tasks(self, request, queryset):
        super().run_tasks(request, queryset)  # running a sweep now changes no row


admin.site.unregister(IntervalSchedule)


@admin.register(IntervalSchedule)
class SafeIntervalScheduleAdmin(beat_admin.IntervalScheduleAdmin):
    """An interval that a safety entry runs on is the safety entry's too."""

    def locked(self, request, obj) -> bool:
        return (
            obj is not None
            and not request.user.is_superuser
            and obj.periodictask_set.filter(name__in=safety_names()).exists()
        )

    def has_change_permission(self, request, obj=None) -> bool:
        return not self.locked(request, obj) and super().has_change_permission(
            request, obj
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return not self.locked(request, obj) and super().has_delete_permission(
            request, obj
        )

    def delete_queryset(self, request, queryset) -> None:
        if not request.user.is_superuser:  # deleting an interval deletes its tasks
            queryset = queryset.exclude(periodictask__name__in=safety_names())
        super().delete_queryset(request, queryset)
