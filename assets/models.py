"""Owners, their distributed energy resources, telemetry and hardware error codes.

Field names follow the seed workflow (`max_discharge_power`, `target_output_kw`);
docs/assets.md maps them to SunSpec / IEEE 2030.5 names (WMax, MinRsvPct, SoC,
opModTargetW, setGradW).
"""

from __future__ import annotations

from itertools import pairwise

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from phonenumber_field.modelfields import PhoneNumberField

from grid.models import Substation

# Physical limits are named CheckConstraints in each Meta: one rule that model
# validation (full_clean, admin forms), the CSV import (assets.imports) and the
# database all enforce.


def validate_power_curve(value) -> None:
    """[[wind speed m/s, power kW], ...]: at least two points, speeds rising."""
    message = (
        "A power curve is a list of [wind speed m/s, power kW] pairs, at least "
        "two, wind speeds rising, numbers >= 0."
    )
    if not isinstance(value, list) or len(value) < 2:
        raise ValidationError(message)
    speeds = []
    for point in value:
        if (
            not isinstance(point, list)
            or len(point) != 2
            or not all(
                isinstance(x, int | float) and not isinstance(x, bool) and x >= 0
                for x in point
            )
        ):
            raise ValidationError(message)
        speeds.append(point[0])
    if any(b <= a for a, b in pairwise(speeds)):
        raise ValidationError(message)


class Owner(models.Model):
    """A private household or business that connected assets to the grid."""

    name = models.CharField(max_length=200)
    email = models.EmailField(unique=True, help_text="Natural key for imports.")
    phone = PhoneNumberField(
        blank=True, help_text="Mobile number in E.164 form, e.g. +14155550123."
    )
    sms_consent = models.BooleanField(
        default=False,
        help_text="The owner agreed to an SMS when their battery is discharged.",
    )
    sms_opted_out_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set when the number replied STOP; no SMS is sent while set.",
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owner",
        help_text="Login that sees this owner's assets in the admin.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    @property
    def may_receive_sms(self) -> bool:
        return bool(self.phone) and self.sms_consent and self.sms_opted_out_at is None


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    MAJOR = "major", "Major"
    CRITICAL = "critical", "Critical"


class HardwareErrorCode(models.Model):
    """An error code an asset's controller reports; critical ones need a technician."""

    code = models.CharField(max_length=32, unique=True)
    description = models.CharField(max_length=300)
    severity = models.CharField(max_length=16, choices=Severity.choices)

    def __str__(self) -> str:
        return f"{self.code} ({self.severity})"

    @property
    def is_critical(self) -> bool:
        return self.severity == Severity.CRITICAL


class AssetKind(models.TextChoices):
    BATTERY = "battery", "Battery (BESS)"
    PV = "pv", "Solar PV"
    WIND = "wind", "Wind turbine"
    EV = "ev", "EV charger"
    FLEXIBLE_LOAD = "flexible_load", "Flexible load"


class AssetStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"
    MAINTENANCE = "maintenance", "Maintenance"
    FAULT = "fault", "Fault"
    DECOMMISSIONED = "decommissioned", "Decommissioned"


class Protocol(models.TextChoices):
    SUNSPEC_MODBUS = "sunspec_modbus", "SunSpec Modbus"
    IEEE_2030_5 = "ieee_2030_5", "IEEE 2030.5"
    OPENADR = "openadr", "OpenADR"
    OCPP = "ocpp", "OCPP"
    MQTT = "mqtt", "MQTT"
    OTHER = "other", "Other"


class SetpointSource(models.TextChoices):
    AUTO = "auto", "Stabilisation cycle"
    MANUAL = "manual", "Manual (operator or integration)"


class DERAsset(models.Model):
    """A distributed energy resource behind a substation."""

    uid = models.SlugField(max_length=64, unique=True, help_text="Natural key.")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=AssetKind.choices)
    status = models.CharField(
        max_length=16, choices=AssetStatus.choices, default=AssetStatus.ACTIVE
    )
    owner = models.ForeignKey(Owner, on_delete=models.PROTECT, related_name="assets")
    substation = models.ForeignKey(
        Substation, on_delete=models.PROTECT, related_name="assets"
    )
    latitude = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    longitude = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )
    protocol = models.CharField(
        max_length=16, choices=Protocol.choices, default=Protocol.SUNSPEC_MODBUS
    )

    # Battery / dispatchable power (SunSpec WMax, MinRsvPct, SoC, setGradW).
    max_discharge_power = models.FloatField(
        default=0.0, help_text="WMax discharging (kW)."
    )
    max_charge_power_kw = models.FloatField(default=0.0)
    energy_capacity_kwh = models.FloatField(default=0.0)
    state_of_charge = models.FloatField(default=0.0, help_text="SoC (%).")
    min_soc_reserve = models.FloatField(
        default=10.0,
        help_text="MinRsvPct: never discharged below this state of charge (%).",
    )
    ramp_limit_kw_per_s = models.FloatField(
        null=True,
        blank=True,
        help_text="setGradW as kW per second: how fast the output may rise. "
        "0: it cannot rise; empty: unknown, no limit applied.",
    )
    target_output_kw = models.FloatField(
        default=0.0,
        help_text="opModTargetW: the discharge setpoint (kW), 0 is the safe default.",
    )

    setpoint_expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Revert time: after it the setpoint returns to 0 (the safe default).",
    )
    setpoint_source = models.CharField(
        max_length=8,
        choices=SetpointSource.choices,
        default=SetpointSource.AUTO,
        help_text="A manual setpoint holds until it expires; the cycle leaves it be.",
    )

    # Solar PV (PVWatts parameters).
    pv_dc_kwp = models.FloatField(null=True, blank=True)
    pv_tilt_deg = models.FloatField(null=True, blank=True)
    pv_azimuth_deg = models.FloatField(
        null=True,
        blank=True,
        help_text="Degrees from north, clockwise (180 = facing south).",
    )
    pv_ac_limit_kw = models.FloatField(null=True, blank=True)

    # Wind.
    wind_rated_kw = models.FloatField(null=True, blank=True)
    wind_hub_height_m = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(1.0)]
    )
    wind_turbine_type = models.CharField(
        max_length=64, blank=True, help_text="windpowerlib turbine type, if any."
    )
    wind_power_curve = models.JSONField(
        null=True,
        blank=True,
        validators=[validate_power_curve],
        help_text="Power curve as [[wind speed m/s, power kW], ...], if no type.",
    )

    last_telemetry_at = models.DateTimeField(null=True, blank=True)
    last_error_code = models.ForeignKey(
        HardwareErrorCode,
        on_delete=models.PROTECT,
        db_index=False,  # codes are never deleted in use; see asset_reporting_error
        null=True,
        blank=True,
        related_name="+",
        help_text="Error code of the newest telemetry, if it carried one.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "DER asset"
        permissions = [
            ("command_setpoint", "Can command a manual setpoint"),
            ("import_derasset", "Can import DER assets from CSV"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_discharge_power__gte=0),
                name="asset_max_discharge_power_non_negative",
                violation_error_message="Maximum discharge power cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(max_charge_power_kw__gte=0),
                name="asset_max_charge_power_non_negative",
                violation_error_message="Maximum charge power cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(energy_capacity_kwh__gte=0),
                name="asset_energy_capacity_non_negative",
                violation_error_message="Energy capacity cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(state_of_charge__gte=0, state_of_charge__lte=100),
                name="asset_soc_0_100",
                violation_error_message="State of charge must be between 0 and 100 %%.",
            ),
            models.CheckConstraint(
                condition=Q(min_soc_reserve__gte=0, min_soc_reserve__lte=100),
                name="asset_reserve_0_100",
                violation_error_message="Reserve must be between 0 and 100 %%.",
            ),
            models.CheckConstraint(
                condition=Q(target_output_kw__gte=0)
                & Q(target_output_kw__lte=F("max_discharge_power")),
                name="asset_target_within_limits",
                violation_error_message=(
                    "Target output must be between 0 and the maximum discharge power."
                ),
            ),
            models.CheckConstraint(
                condition=Q(ramp_limit_kw_per_s__isnull=True)
                | Q(ramp_limit_kw_per_s__gte=0),
                name="asset_ramp_limit_non_negative",
                violation_error_message="Ramp limit cannot be negative.",
            ),
            models.CheckConstraint(
                condition=(Q(pv_dc_kwp__isnull=True) | Q(pv_dc_kwp__gte=0))
                & (Q(pv_ac_limit_kw__isnull=True) | Q(pv_ac_limit_kw__gte=0))
                & (Q(wind_rated_kw__isnull=True) | Q(wind_rated_kw__gte=0)),
                name="asset_generation_ratings_non_negative",
                violation_error_message="Generation ratings cannot be negative.",
            ),
            models.CheckConstraint(
                condition=(
                    Q(pv_tilt_deg__isnull=True)
                    | Q(pv_tilt_deg__gte=0, pv_tilt_deg__lte=90)
                )
                & (
                    Q(pv_azimuth_deg__isnull=True)
                    | Q(pv_azimuth_deg__gte=0, pv_azimuth_deg__lte=360)
                ),
                name="asset_pv_orientation_in_range",
                violation_error_message="Tilt is 0-90° and azimuth 0-360°.",
            ),
        ]
        indexes = [
            # Dispatch: active batteries of one substation (capacity sum, setpoints).
            models.Index(
                fields=["substation", "kind", "status"], name="asset_dispatch_fleet"
            ),
            # The cycle's hardware-fault check: the few assets reporting an error.
            models.Index(
                fields=["substation"],
                condition=Q(last_error_code__isnull=False),
                name="asset_reporting_error",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.uid} ({self.get_kind_display()})"

    def clean(self) -> None:
        errors = asset_kind_errors(self.__dict__)
        if errors:
            raise ValidationError(errors)


def asset_kind_errors(values) -> dict[str, str]:
    """What an asset of its kind must have, from its field values (a mapping)."""
    kind = values.get("kind")
    errors = {}
    if kind == AssetKind.PV and not values.get("pv_dc_kwp"):
        errors["pv_dc_kwp"] = "A PV asset needs its DC rating (kWp)."
    if kind == AssetKind.WIND and not values.get("wind_rated_kw"):
        errors["wind_rated_kw"] = "A wind asset needs its rated power (kW)."
    if kind == AssetKind.BATTERY and not values.get("energy_capacity_kwh"):
        errors["energy_capacity_kwh"] = "A battery needs its energy capacity (kWh)."
    return errors


class AssetTelemetry(models.Model):
    """What an asset reported: output, state of charge, error code."""

    asset = models.ForeignKey(
        DERAsset, on_delete=models.CASCADE, related_name="telemetry"
    )
    measured_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    output_kw = models.FloatField(
        help_text="Measured output (kW): positive is generation or discharge, "
        "negative is charging."
    )
    state_of_charge = models.FloatField(null=True, blank=True)
    error_code = models.ForeignKey(
        HardwareErrorCode,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name_plural = "asset telemetry"
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "measured_at"], name="telemetry_unique_asset_time"
            ),
            models.CheckConstraint(
                condition=Q(state_of_charge__isnull=True)
                | Q(state_of_charge__gte=0, state_of_charge__lte=100),
                name="telemetry_soc_0_100",
                violation_error_message="State of charge must be between 0 and 100 %%.",
            ),
        ]
        # The unique constraint's index on (asset, measured_at) serves "latest
        # telemetry of an asset" too (scanned backwards).

    def __str__(self) -> str:
        return f"{self.asset_id} @ {self.measured_at:%Y-%m-%d %H:%M:%S}"


class AssetImportStatus(models.TextChoices):
    VALIDATING = "validating", "Validating"
    VALID = "valid", "Valid: waiting for confirmation"
    INVALID = "invalid", "Refused: bad rows"
    IMPORTING = "importing", "Importing"
    DONE = "done", "Imported"
    FAILED = "failed", "Failed"


class AssetImport(models.Model):
    """A CSV file imported through the admin in the background: files over
    ASSET_IMPORT_ASYNC_BYTES are validated, then (once confirmed) imported by a
    Celery task that reports its progress here (docs/import.md)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    file = models.FileField(upload_to="asset-imports/")
    file_name = models.CharField(max_length=255)
    status = models.CharField(
        max_length=16,
        choices=AssetImportStatus.choices,
        default=AssetImportStatus.VALIDATING,
    )
    lines = models.PositiveIntegerField(help_text="Lines in the file (for progress).")
    rows_read = models.PositiveIntegerField(default=0)
    summary = models.CharField(max_length=500, blank=True)
    errors = models.JSONField(
        default=list, blank=True, help_text="The first bad rows: [line, column, why]."
    )
    error_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"
