"""REST resources of incidents: incidents, active alerts, tasks, notifications."""

from __future__ import annotations

from rest_framework import serializers

from dermgmt.api.views import ReadOnlyViewSet
from incidents.models import ActiveAlert, GridIncident, Notification, TechnicianTask


class GridIncidentSerializer(serializers.ModelSerializer):
    substation = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = GridIncident
        fields = [
            "id",
            "substation",
            "kind",
            "severity",
            "status",
            "opened_at",
            "cleared_at",
            "resolved_at",
            "archived_at",
            "worst_value",
            "description",
        ]


class GridIncidentViewSet(ReadOnlyViewSet):
    """Grid incidents from opening to archive; worst_value in the kind's unit
    (voltage pu, frequency Hz, reading age s, deficit kW, assets in fault)."""

    queryset = GridIncident.objects.select_related("substation")
    serializer_class = GridIncidentSerializer
    filterset_fields = {
        "substation__code": ["exact"],
        "kind": ["exact"],
        "status": ["exact"],
        "opened_at": ["gte", "lt"],
    }
    ordering_fields = ["opened_at", "severity"]
    ordering = ["-opened_at"]


class ActiveAlertSerializer(serializers.ModelSerializer):
    incident = GridIncidentSerializer(read_only=True)

    class Meta:
        model = ActiveAlert
        fields = ["incident", "raised_at"]


class ActiveAlertViewSet(ReadOnlyViewSet):
    """The active-alerts list: one entry per live incident, newest first."""

    queryset = ActiveAlert.objects.select_related("incident__substation")
    serializer_class = ActiveAlertSerializer
    # Through the incident's own id: a key beyond the integer range is then no
    # row (404), not an OverflowError (500) as a lookup on the relation is.
    lookup_field = "incident__id"
    lookup_url_kwarg = "incident"
    ordering = ["-raised_at"]


class TechnicianTaskSerializer(serializers.ModelSerializer):
    asset = serializers.SlugRelatedField(slug_field="uid", read_only=True)
    error_code = serializers.SlugRelatedField(slug_field="code", read_only=True)
    assignee = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = TechnicianTask
        fields = [
            "id",
            "asset",
            "error_code",
            "incident",
            "priority",
            "status",
            "assignee",
            "due_at",
            "notes",
            "created_at",
            "assigned_at",
            "started_at",
            "closed_at",
            "asset_returned_at",
        ]


class TechnicianTaskViewSet(ReadOnlyViewSet):
    """Technician tasks for hardware faults; an owner's login sees its assets'."""

    queryset = TechnicianTask.objects.select_related("asset", "error_code", "assignee")
    serializer_class = TechnicianTaskSerializer
    owner_field = "asset__owner_id"
    filterset_fields = {"status": ["exact"], "priority": ["exact"]}
    ordering_fields = ["due_at", "created_at", "priority"]
    ordering = ["-created_at"]


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = [
            "id",
            "channel",
            "recipient",
            "template",
            "subject",
            "body",
            "status",
            "attempts",
            "next_attempt_at",
            "sent_at",
            "last_error",
            "run_id",
            "incident",
            "created_at",
        ]


class NotificationViewSet(ReadOnlyViewSet):
    """The outbox, read-only: emails and SMS with their delivery status; an
    owner's login sees the messages sent to it."""

    queryset = Notification.objects.all()
    serializer_class = NotificationSerializer
    owner_field = "owner_id"
    filterset_fields = {"channel": ["exact"], "status": ["exact"]}
    ordering = ["-created_at"]
