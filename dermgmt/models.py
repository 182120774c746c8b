from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """Last time a periodic task made it from beat through the broker to a worker.

    /healthz reads it: a stale heartbeat means beat, the broker or every worker
    is down, and so is the stabilisation cycle.
    """

    name = models.CharField(max_length=64, primary_key=True)
    beat_at = models.DateTimeField()

    class Meta:
        # The operator dashboard is the Operations app's page (Operators have it).
        permissions = [("view_dashboard", "Can view the operator dashboard")]

    def __str__(self) -> str:
        return f"{self.name} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"


class ApiScope(models.TextChoices):
    """What an integration token may do beyond reading what its user may see."""

    READ = "read", "Read what the token's user may see"
    INGEST = "ingest", "Send grid readings and asset telemetry"
    FORECASTS = "forecasts", "Push weather forecasts"
    SETPOINT = "setpoint", "Command manual setpoints"


class ApiToken(models.Model):
    """An integration's credential for the REST API (docs/api.md).

    The secret is shown once, when the token is made; only its SHA-256 is kept
    (a random 256-bit secret needs no slow hash). The token acts as its `user`,
    whose roles bound what it sees, and only within its `scopes`.
    """

    name = models.CharField(max_length=100, help_text="Which integration uses it.")
    user = models.ForeignKey(
        "auth.User", on_delete=models.CASCADE, related_name="api_tokens"
    )
    prefix = models.CharField(max_length=12, unique=True, editable=False)
    secret_sha256 = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list, help_text="Granted ApiScope values.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        state = " (revoked)" if self.revoked_at else ""
        return f"{self.name} [{self.prefix}]{state}"
