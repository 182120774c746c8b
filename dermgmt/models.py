from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """Last time a periodic task made it from beat through the broker to a worker.

    /healthz reads it: a stale heartbeat means beat, the broker or every worker
    is down, and so is the stabilisation cycle.
    """

    name = models.CharField(max_length=64, primary_key=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"
