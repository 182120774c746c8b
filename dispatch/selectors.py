"""Reads of dispatch history that the admin and the API reuse."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from dispatch.models import SetpointCommand

# How far back an asset's page looks: its newest audit rows.
HISTORY_ROWS = 2_000


@dataclass(frozen=True)
class Discharge:
    """One remote discharge of an asset: a setpoint above zero while in force."""

    started_at: datetime
    ended_at: datetime | None  # None: still in force
    power_kw: float
    reason: str
    user: str | None

    @property
    def duration_s(self) -> float:
        end = self.ended_at or timezone.now()
        return (end - self.started_at).total_seconds()

    @property
    def energy_kwh(self) -> float:
        return self.power_kw * self.duration_s / 3600


def discharges_of(*, asset_id: int, now: datetime | None = None) -> list[Discharge]:
    """Every discharge commanded to an asset (newest first) from its setpoint
    audit: each setpoint above 0 kW until the asset's next setpoint or its
    expiry, whichever came first. One query (the newest HISTORY_ROWS rows)."""
    now = now or timezone.now()
    rows = list(
        SetpointCommand.objects.filter(asset_id=asset_id)
        .select_related("user")
        .order_by("-created_at", "-id")[:HISTORY_ROWS]
    )
    rows.reverse()
    result = []
    for row, following in zip(rows, [*rows[1:], None], strict=True):
        if row.new_kw <= 0:
            continue
        ends = [t for t in (following and following.created_at, row.expires_at) if t]
        ended = min(ends) if ends else None
        result.append(
            Discharge(
                started_at=row.created_at,
                ended_at=ended if ended is None or ended <= now else None,
                power_kw=row.new_kw,
                reason=row.get_reason_display(),
                user=row.user.username if row.user else None,
            )
        )
    return result[::-1]
