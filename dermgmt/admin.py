from django.contrib import admin

from dermgmt.models import Heartbeat


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
