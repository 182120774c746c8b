"""Dispatch policies, the runs of the stabilisation cycle, the setpoint audit trail."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from assets.models import DERAsset
from grid.models import Substation


class DispatchPolicy(models.Model):
    """How the stabilisation cycle of one substation behaves.

    Defaults are the standards' (IEEE 1547-2018 droop and volt-watt). The nominal
    frequency is the substation's own (`Substation.nominal_frequency_hz`), not a
    policy setting. Changes go through `dispatch.services.policy_update`, which
    audits them.
    """

    substation = models.OneToOneField(
        Substation, on_delete=models.CASCADE, related_name="dispatch_policy"
    )
    enabled = models.BooleanField(
        default=True, help_text="Off: the cycle records a run but commands nothing."
    )
    cycle_s = models.PositiveIntegerField(
        default=5, help_text="Seconds between two cycles of this substation."
    )
    # IEEE 1547-2018 default frequency-droop deadband and droop.
    deadband_hz = models.FloatField(default=0.036)
    droop = models.FloatField(
        default=0.05,
        help_text="Per unit frequency change for full output (0.05 = 5 %).",
    )
    # IEEE 1547-2018 volt-watt: full power up to V1, none from V2.
    volt_watt_start_pu = models.FloatField(default=1.06)
    volt_watt_end_pu = models.FloatField(default=1.10)
    max_reading_age_s = models.PositiveIntegerField(
        default=15, help_text="A grid reading older than this is stale (3 cycles)."
    )
    max_telemetry_age_s = models.PositiveIntegerField(
        default=300,
        help_text="A battery without telemetry this recent is not dispatched.",
    )
    energy_horizon_h = models.FloatField(
        default=0.25,
        help_text="A battery gives at most its energy above reserve over this horizon.",
    )
    min_change_kw = models.FloatField(
        default=1.0,
        help_text="Hysteresis: smaller changes of the command are not sent.",
    )
    setpoint_lifetime_s = models.PositiveIntegerField(
        default=15, help_text="Revert time of a setpoint (3 cycles)."
    )
    manual_setpoint_lifetime_s = models.PositiveIntegerField(
        default=900, help_text="Revert time of a manual setpoint."
    )
    resolve_hold_s = models.PositiveIntegerField(
        default=300,
        help_text="An incident is archived once the grid has stayed nominal this "
        "long (no open-close flicker at a band's edge).",
    )
    enqueued_slot_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Last time slot the fan-out enqueued a cycle for (claimed once).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "dispatch policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(cycle_s__gte=1),
                name="policy_cycle_at_least_1s",
                violation_error_message="The cycle period is at least 1 second.",
            ),
            models.CheckConstraint(
                condition=Q(deadband_hz__gte=0, deadband_hz__lte=1),
                name="policy_deadband_0_1hz",
                violation_error_message="The deadband is between 0 and 1 Hz.",
            ),
            models.CheckConstraint(
                condition=Q(droop__gt=0, droop__lte=1),
                name="policy_droop_positive",
                violation_error_message="Droop is above 0 and at most 1 (100 %%).",
            ),
            models.CheckConstraint(
                condition=Q(volt_watt_start_pu__lt=F("volt_watt_end_pu"))
                & Q(volt_watt_start_pu__gte=1.0),
                name="policy_volt_watt_ordered",
                violation_error_message=(
                    "Volt-watt starts at or above 1.0 pu and below its end voltage."
                ),
            ),
            models.CheckConstraint(
                condition=Q(energy_horizon_h__gt=0),
                name="policy_energy_horizon_positive",
                violation_error_message="The energy horizon must be positive.",
            ),
            models.CheckConstraint(
                condition=Q(min_change_kw__gte=0),
                name="policy_min_change_non_negative",
                violation_error_message="The minimum change cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(max_reading_age_s__gte=1)
                & Q(max_telemetry_age_s__gte=1)
                & Q(setpoint_lifetime_s__gte=1)
                & Q(manual_setpoint_lifetime_s__gte=1),
                name="policy_times_positive",
                violation_error_message="Ages and lifetimes are at least 1 second.",
            ),
        ]

    def __str__(self) -> str:
        return f"Policy of {self.substation_id}"


class DispatchPolicyChange(models.Model):
    """Audit of a policy change: who, when, and each field's old and new value."""

    policy = models.ForeignKey(
        DispatchPolicy, on_delete=models.CASCADE, related_name="changes"
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    changed_at = models.DateTimeField(auto_now_add=True)
    changes = models.JSONField(help_text='{"field": [old, new], ...}')

    def __str__(self) -> str:
        return f"{self.policy_id} changed at {self.changed_at:%Y-%m-%d %H:%M:%S}"


class Outcome(models.TextChoices):
    DISPATCHED = "dispatched", "Dispatched"
    UNCHANGED = "unchanged", "Held (hysteresis)"
    STALE = "stale", "Stale or missing reading"
    INSUFFICIENT = "insufficient", "Insufficient capacity"
    NO_ASSETS = "no_assets", "No dispatchable assets"
    DISABLED = "disabled", "Policy disabled"
    SKIPPED = "skipped", "Skipped (another cycle holds the lock)"
    ERROR = "error", "Error"


class DispatchRun(models.Model):
    """One stabilisation cycle of one substation: what it saw, decided and did.

    Unique per (substation, slot) except skips: a cycle is idempotent for its time
    slot, and a second cycle of the same slot records only that it skipped.
    """

    substation = models.ForeignKey(
        Substation, on_delete=models.PROTECT, related_name="dispatch_runs"
    )
    slot_at = models.DateTimeField(help_text="Start of the cycle's time slot.")
    started_at = models.DateTimeField()
    duration_ms = models.FloatField(
        null=True,
        blank=True,
        help_text="Time to read the grid and fleet and decide (ms); the setpoint "
        "writes follow in the same transaction.",
    )
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    detail = models.TextField(blank=True)

    frequency_hz = models.FloatField(null=True, blank=True)
    voltage_pu = models.FloatField(null=True, blank=True)
    load_kw = models.FloatField(null=True, blank=True)
    reading_at = models.DateTimeField(null=True, blank=True)
    reading_age_s = models.FloatField(null=True, blank=True)

    # The terms of the decision (docs/dispatch.md), so that a run can say why it
    # commanded what it did (dispatch.rules.run_explanation).
    assets_active = models.PositiveIntegerField(default=0)
    capacity_nameplate_kw = models.FloatField(
        default=0.0, help_text="Sum of WMax of the dispatchable batteries."
    )
    capacity_available_kw = models.FloatField(
        default=0.0,
        help_text="Sum of avail_i: WMax, energy above reserve over the horizon, ramp.",
    )
    capacity_kw = models.FloatField(
        default=0.0,
        help_text="C: sum of cap_i = min(avail_i, volt-watt x WMax_i): what the "
        "fleet can give now.",
    )
    limited_by_energy = models.PositiveIntegerField(
        default=0, help_text="Batteries whose cap is their energy above reserve."
    )
    limited_by_ramp = models.PositiveIntegerField(
        default=0, help_text="Batteries whose cap is their ramp limit."
    )
    limited_by_volt_watt = models.PositiveIntegerField(
        default=0, help_text="Batteries whose cap is the volt-watt curve."
    )
    manual_kw = models.FloatField(
        default=0.0, help_text="Output of manual setpoints, counted toward the need."
    )
    over_frequency_kw = models.FloatField(
        default=0.0,
        help_text="How much over-frequency lowered the load need (droop on WMax).",
    )
    load_need_kw = models.FloatField(
        default=0.0,
        help_text="L: load above import capacity, less manual output and "
        "over-frequency, never below 0.",
    )
    frequency_response_kw = models.FloatField(
        default=0.0, help_text="Sum of droop_i: under-frequency droop on WMax, capped."
    )
    requirement_kw = models.FloatField(default=0.0, help_text="R = L + sum of droop_i.")
    imbalance_kw = models.FloatField(
        default=0.0, help_text="R - C: > 0 deficit, <= 0 surplus held in reserve."
    )
    volt_watt_factor = models.FloatField(default=1.0)
    held = models.BooleanField(
        default=False,
        help_text="Hysteresis: the setpoints in force were kept (and their expiry "
        "extended) because the command moved less than the minimum change.",
    )
    command_kw = models.FloatField(default=0.0)
    assets_commanded = models.PositiveIntegerField(default=0)
    setpoints_changed = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["substation", "slot_at"],
                condition=~Q(outcome="skipped"),
                name="dispatchrun_one_per_slot",
            ),
        ]
        indexes = [
            # The last runs of a substation (dashboard, previous command).
            models.Index(fields=["substation", "-slot_at"], name="dispatchrun_latest"),
            # The dashboard's "last runs" across all substations.
            models.Index(fields=["-started_at"], name="dispatchrun_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.substation_id} {self.slot_at:%Y-%m-%d %H:%M:%S} {self.outcome}"


class SetpointReason(models.TextChoices):
    CYCLE = "cycle", "Stabilisation cycle"
    MANUAL = "manual", "Manual"
    REFRESH = "refresh", "Held: the same setpoint, its expiry extended"
    EXPIRED = "expired", "Expired: back to the safe default"
    INELIGIBLE = "ineligible", "Asset out of dispatch"


class AppendOnlyQuerySet(models.QuerySet):
    """Audit rows are never updated or deleted, not even in bulk."""

    def update(self, **kwargs):
        raise PermissionError("Setpoint commands are append-only.")

    def delete(self):
        raise PermissionError("Setpoint commands are append-only.")


class SetpointCommand(models.Model):
    """Append-only audit: one row per change of an asset's `target_output_kw`,
    and one per hold that extends a setpoint's expiry (reason `refresh`, previous
    = new), so that the rows integrate to the energy really in force.

    The asset and run references are not database foreign keys: checking them
    cost 36 µs per audit row at commit (a quarter of a 100-battery cycle,
    docs/dispatch.md). Both are still PROTECTed by the ORM, assets are
    decommissioned rather than deleted, and runs are never deleted.
    """

    asset = models.ForeignKey(
        DERAsset,
        on_delete=models.PROTECT,
        related_name="setpoint_commands",
        db_constraint=False,
        db_index=False,  # setpoint_by_asset (asset, -created_at) serves it
    )
    run = models.ForeignKey(
        DispatchRun,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="setpoint_commands",
        db_constraint=False,
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    created_at = models.DateTimeField()
    previous_kw = models.FloatField()
    new_kw = models.FloatField()
    reason = models.CharField(max_length=16, choices=SetpointReason.choices)
    expires_at = models.DateTimeField(null=True, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        indexes = [
            # An asset's setpoint history (owner's page, API).
            models.Index(fields=["asset", "-created_at"], name="setpoint_by_asset"),
        ]

    def __str__(self) -> str:
        return f"{self.asset_id}: {self.previous_kw:g} -> {self.new_kw:g} kW"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise PermissionError("Setpoint commands are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Setpoint commands are append-only.")


class Intervention(models.Model):
    """An automated intervention at a substation: from the first cycle that commands
    discharge to the first that commands none. The operator email follows it
    (started, material changes, ended) and the daily report counts it."""

    substation = models.ForeignKey(
        Substation, on_delete=models.PROTECT, related_name="interventions"
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    started_run = models.ForeignKey(
        DispatchRun, on_delete=models.PROTECT, related_name="+"
    )
    ended_run = models.ForeignKey(
        DispatchRun, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    peak_command_kw = models.FloatField()
    notified_command_kw = models.FloatField(
        help_text="Command in the last email to the operators."
    )
    notified_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["substation"],
                condition=Q(ended_at__isnull=True),
                name="intervention_one_open_per_substation",
            ),
        ]
        indexes = [
            models.Index(
                fields=["substation", "-started_at"], name="intervention_latest"
            )
        ]

    def __str__(self) -> str:
        return f"{self.substation_id} from {self.started_at:%Y-%m-%d %H:%M:%S}"
