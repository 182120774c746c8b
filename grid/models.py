"""Substations, their sensors and the readings those sensors send."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

# Physically possible frequency on a 50 or 60 Hz grid. IEEE 1547-2018 trips at
# 56.5 / 62.0 Hz; anything far outside this band is a broken sensor, not the grid.
FREQUENCY_MIN_HZ = 45.0
FREQUENCY_MAX_HZ = 65.0
# Per-unit voltage a sensor can report: 0 (outage) up to twice nominal.
VOLTAGE_MAX_PU = 2.0


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone.")


def day_bounds(day: date, zone: zoneinfo.ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a local day as UTC instants: 23 or 25 hours across a DST
    change (arithmetic on zone-aware datetimes is wall-clock time, not elapsed)."""
    start, end = (
        datetime.combine(d, time(), tzinfo=zone).astimezone(UTC)
        for d in (day, day + timedelta(days=1))
    )
    return start, end


class NominalFrequency(models.IntegerChoices):
    HZ_50 = 50, "50 Hz (EN 50160)"
    HZ_60 = 60, "60 Hz (IEEE)"


class Substation(models.Model):
    """A distribution substation: the unit of dispatch and of partitioning."""

    code = models.SlugField(max_length=32, unique=True, help_text="Natural key.")
    name = models.CharField(max_length=200)
    nominal_voltage_v = models.FloatField(
        help_text="Nominal voltage of the bus the readings refer to (V).",
    )
    nominal_frequency_hz = models.PositiveSmallIntegerField(
        choices=NominalFrequency.choices, default=NominalFrequency.HZ_60
    )
    import_capacity_kw = models.FloatField(
        help_text="Power the upstream grid can deliver; load beyond it must come "
        "from the local fleet (kW).",
    )
    latitude = models.FloatField()
    longitude = models.FloatField()
    altitude_m = models.FloatField(default=0.0)
    time_zone = models.CharField(
        max_length=64, default="UTC", validators=[validate_time_zone]
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(import_capacity_kw__gte=0),
                name="substation_import_capacity_non_negative",
                violation_error_message="Import capacity cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(nominal_voltage_v__gt=0),
                name="substation_nominal_voltage_positive",
                violation_error_message="Nominal voltage must be positive.",
            ),
            models.CheckConstraint(
                condition=Q(nominal_frequency_hz__in=[50, 60]),
                name="substation_nominal_frequency_50_or_60",
                violation_error_message="Nominal frequency is 50 or 60 Hz.",
            ),
            models.CheckConstraint(
                condition=Q(latitude__gte=-90, latitude__lte=90)
                & Q(longitude__gte=-180, longitude__lte=180),
                name="substation_location_on_earth",
                violation_error_message="Latitude or longitude out of range.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def local_date(self, at: datetime) -> date:
        """The substation's calendar day at the instant `at`."""
        return at.astimezone(self.zone).date()

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        return day_bounds(day, self.zone)


class GridSensor(models.Model):
    """A measuring point (PMU, feeder meter, SCADA RTU) at a substation."""

    substation = models.ForeignKey(
        Substation, on_delete=models.PROTECT, related_name="sensors"
    )
    uid = models.SlugField(max_length=64, unique=True, help_text="Natural key.")
    name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    last_reading_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.uid


class GridReading(models.Model):
    """One measurement of frequency, voltage and load at a substation.

    Integrations re-send readings; (sensor, measured_at) is unique so a re-sent
    reading never duplicates. A reading without a sensor is keyed by
    (substation, measured_at).
    """

    substation = models.ForeignKey(
        Substation, on_delete=models.CASCADE, related_name="readings"
    )
    sensor = models.ForeignKey(
        GridSensor,
        on_delete=models.CASCADE,
        related_name="readings",
        null=True,
        blank=True,
    )
    measured_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    # Ranges: the named check constraints below, one rule for forms and database.
    frequency_hz = models.FloatField()
    voltage_pu = models.FloatField(
        help_text="Voltage in per unit of the substation's nominal voltage.",
    )
    voltage_v = models.FloatField(
        null=True,
        blank=True,
        help_text="Voltage in volts, when the sensor reports it.",
    )
    load_kw = models.FloatField(
        help_text="Load the substation must serve (kW).",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["sensor", "measured_at"],
                condition=Q(sensor__isnull=False),
                name="gridreading_unique_sensor_time",
            ),
            models.UniqueConstraint(
                fields=["substation", "measured_at"],
                condition=Q(sensor__isnull=True),
                name="gridreading_unique_substation_time_without_sensor",
            ),
            models.CheckConstraint(
                condition=Q(
                    frequency_hz__gte=FREQUENCY_MIN_HZ,
                    frequency_hz__lte=FREQUENCY_MAX_HZ,
                ),
                name="gridreading_frequency_plausible",
                violation_error_message=(
                    f"Frequency must be between {FREQUENCY_MIN_HZ:g} and "
                    f"{FREQUENCY_MAX_HZ:g} Hz."
                ),
            ),
            models.CheckConstraint(
                condition=Q(voltage_pu__gte=0, voltage_pu__lte=VOLTAGE_MAX_PU),
                name="gridreading_voltage_pu_plausible",
                violation_error_message=(
                    f"Voltage must be between 0 and {VOLTAGE_MAX_PU:g} per unit."
                ),
            ),
            models.CheckConstraint(
                condition=Q(voltage_v__isnull=True) | Q(voltage_v__gte=0),
                name="gridreading_voltage_v_non_negative",
                violation_error_message="Voltage in volts cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(load_kw__gte=0),
                name="gridreading_load_non_negative",
                violation_error_message="Load cannot be negative.",
            ),
        ]
        indexes = [
            # Grid status: the latest reading of a substation.
            models.Index(
                fields=["substation", "-measured_at"], name="gridreading_latest"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.substation_id} @ {self.measured_at:%Y-%m-%d %H:%M:%S}"

    def clean(self) -> None:
        if (
            self.sensor_id
            and self.substation_id
            and self.sensor.substation_id != self.substation_id
        ):
            raise ValidationError(
                {"sensor": "The sensor belongs to another substation."}
            )
