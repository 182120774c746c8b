from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.utils import timezone

from dermgmt.api.auth import token_create
from dermgmt.models import ApiScope, ApiToken, Heartbeat


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
