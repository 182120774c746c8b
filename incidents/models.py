"""Grid incidents, the active-alerts list, technician tasks (steps 7, 8, 14) and
the notification outbox (steps 9, 10)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from assets.models import DERAsset, HardwareErrorCode
from grid.models import Substation


class IncidentKind(models.TextChoices):
    VOLTAGE = "voltage_deviation", "Voltage deviation"
    FREQUENCY = "frequency_deviation", "Frequency deviation"
    STALE = "stale_telemetry", "Stale telemetry"
    INSUFFICIENT = "insufficient_capacity", "Insufficient capacity"
    HARDWARE = "hardware_fault", "Hardware fault"


class IncidentSeverity(models.IntegerChoices):
    """Ordered: a worsening incident only ever moves up (docs/incidents.md)."""

    MODERATE = 1, "Moderate"
    HIGH = 2, "High"
    CRITICAL = 3, "Critical"


class IncidentStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved: back to nominal, holding"
    ARCHIVED = "archived", "Archived"


LIVE = Q(status__in=[IncidentStatus.OPEN, IncidentStatus.RESOLVED])


class GridIncident(models.Model):
    """Something wrong at a substation, from the moment it is seen to its archive.

    Kept forever. At most one live (open or resolved) incident per substation and
    kind: a recurrence before archiving is the same incident.
    """

    substation = models.ForeignKey(
        Substation, on_delete=models.PROTECT, related_name="incidents"
    )
    kind = models.CharField(max_length=24, choices=IncidentKind.choices)
    severity = models.PositiveSmallIntegerField(choices=IncidentSeverity.choices)
    status = models.CharField(
        max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.OPEN
    )
    opened_at = models.DateTimeField()
    cleared_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Start of the hold: when the grid was seen back to nominal; "
        "reset if it leaves again or the substation goes blind.",
    )
    resolved_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the grid returned to nominal for good (set on archiving).",
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    worst_value = models.FloatField(
        help_text="Furthest from nominal seen: voltage in pu, frequency in Hz, "
        "reading age in s, deficit in kW, assets in fault."
    )
    description = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["substation", "kind"],
                condition=LIVE,
                name="incident_one_live_per_substation_kind",
                violation_error_message="This substation already has a live "
                "incident of this kind.",
            ),
        ]
        indexes = [
            # The cycle's "live incidents of this substation" (a handful of rows).
            models.Index(
                fields=["substation"],
                condition=LIVE,
                name="incident_live_by_substation",
            ),
            # History lists and the daily report: newest first, per substation.
            models.Index(
                fields=["substation", "-opened_at"], name="incident_by_opened"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.substation} ({self.status})"

    @property
    def duration_s(self) -> float | None:
        if self.resolved_at is None:
            return None
        return (self.resolved_at - self.opened_at).total_seconds()


class ReadingWatermark(models.Model):
    """How far incident evaluation has read a substation's grid readings.

    One row per substation, moved forward by each evaluation that saw a new
    reading: the readings measured after it are the ones not evaluated yet, and
    it is the predecessor of the first of them (a gap longer than the policy's
    `max_reading_age_s` is a blind spell, which restarts a hold).
    """

    substation = models.OneToOneField(
        Substation, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    evaluated_until = models.DateTimeField(
        help_text="measured_at of the newest grid reading evaluated."
    )

    def __str__(self) -> str:
        return f"{self.substation_id} evaluated until {self.evaluated_until}"


class ActiveAlert(models.Model):
    """The active-alerts list: one row per live incident, removed on archiving."""

    incident = models.OneToOneField(
        GridIncident, on_delete=models.CASCADE, primary_key=True, related_name="alert"
    )
    raised_at = models.DateTimeField()

    def __str__(self) -> str:
        return str(self.incident)


class TaskStatus(models.TextChoices):
    OPEN = "open", "Open"
    ASSIGNED = "assigned", "Assigned"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


PENDING_TASK = [TaskStatus.OPEN, TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS]


class TaskPriority(models.IntegerChoices):
    """From the error code's severity; the due time follows (docs/incidents.md)."""

    URGENT = 1, "Urgent"
    HIGH = 2, "High"
    NORMAL = 3, "Normal"
    LOW = 4, "Low"


class TechnicianTask(models.Model):
    """Work for the maintenance team: an asset reported a critical hardware error."""

    asset = models.ForeignKey(
        DERAsset, on_delete=models.PROTECT, related_name="technician_tasks"
    )
    error_code = models.ForeignKey(
        HardwareErrorCode, on_delete=models.PROTECT, related_name="+"
    )
    incident = models.ForeignKey(
        GridIncident,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tasks",
    )
    priority = models.PositiveSmallIntegerField(choices=TaskPriority.choices)
    status = models.CharField(
        max_length=16, choices=TaskStatus.choices, default=TaskStatus.OPEN
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="technician_tasks",
    )
    due_at = models.DateTimeField()
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField()
    assigned_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    asset_returned_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the asset was returned to service after this task.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "error_code"],
                condition=Q(status__in=PENDING_TASK),
                name="task_one_pending_per_asset_code",
                violation_error_message="This asset already has a pending task "
                "for this error code.",
            ),
        ]
        indexes = [
            # The maintenance queue: pending tasks by priority and due time.
            models.Index(
                fields=["priority", "due_at"],
                condition=Q(status__in=PENDING_TASK),
                name="task_queue",
            ),
        ]
        permissions = [
            ("work_techniciantask", "Can claim, start and finish technician tasks"),
            ("cancel_techniciantask", "Can cancel technician tasks"),
        ]

    def __str__(self) -> str:
        return f"{self.error_code.code} on {self.asset.uid} ({self.status})"


# --- The notification outbox (steps 9 and 10) -------------------------------------


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending (claimed by a worker)"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SUPPRESSED = "suppressed", "Suppressed (not sent on purpose)"


# The template of the owner SMS of step 10 (also its quiet-period lookup).
DISCHARGE_SMS = "discharge_started"


class Notification(models.Model):
    """One message to one recipient, written in the transaction that causes it and
    sent by a worker after commit (docs/notifications.md)."""

    channel = models.CharField(max_length=8, choices=Channel.choices)
    recipient = models.CharField(
        max_length=254, help_text="An email address, or an E.164 phone number."
    )
    template = models.CharField(max_length=64)
    context = models.JSONField(
        default=dict, help_text="What the template is rendered with (plain values)."
    )
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True, help_text="Rendered by the sender.")
    attachment = models.FileField(
        blank=True,
        max_length=255,
        help_text="A stored file sent with the email (the daily report's PDF).",
    )
    idempotency_key = models.CharField(max_length=200, unique=True)
    run_id = models.BigIntegerField(
        null=True, blank=True, help_text="The dispatch run that caused it, if any."
    )
    incident = models.ForeignKey(
        GridIncident,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="notifications",
    )
    owner = models.ForeignKey(
        "assets.Owner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="notifications",
    )
    status = models.CharField(
        max_length=12,
        choices=NotificationStatus.choices,
        default=NotificationStatus.PENDING,
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    provider_message_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            # The sender's sweep: pending rows that are due, and stuck claims.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="notification_due",
            ),
            models.Index(
                fields=["claimed_at"],
                condition=Q(status="sending"),
                name="notification_claimed",
            ),
            # An owner's messages, newest first (admin, quiet period of SMS).
            models.Index(fields=["owner", "-created_at"], name="notification_by_owner"),
        ]
        permissions = [("resend_notification", "Can resend failed notifications")]

    def __str__(self) -> str:
        return f"{self.channel} to {self.recipient}: {self.template} ({self.status})"


class InboundMessage(models.Model):
    """One SMS an owner sent us, by Twilio's MessageSid (docs/notifications.md).

    Kept so that a request replayed with its valid signature (the same MessageSid)
    is recognised and changes nothing. One small row per inbound SMS; the sid is
    what must stay (Twilio's signatures do not expire).
    """

    message_sid = models.CharField(max_length=64, unique=True)
    phone = models.CharField(max_length=32, help_text="The sender (From), E.164.")
    owner = models.ForeignKey(
        "assets.Owner",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="An owner with that number when it arrived (the lowest id if "
        "several share it: the keyword applied to all of them).",
    )
    body = models.TextField(blank=True, help_text="Without control characters.")
    keyword = models.CharField(max_length=16, blank=True)
    outcome = models.CharField(max_length=16)
    received_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.message_sid} from {self.phone}: {self.outcome}"
