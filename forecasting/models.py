"""Weather forecasts per substation; generation forecasts build on them."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from grid.models import Substation

# The forecast values the generation models read, in this order.
WEATHER_COLUMNS = [
    "ghi_w_m2",
    "dni_w_m2",
    "dhi_w_m2",
    "air_temperature_c",
    "wind_speed_m_s",
    "wind_speed_height_m",
]


class WeatherForecast(models.Model):
    """One provider's forecast for one substation and one valid time.

    (substation, provider, issued_at, valid_at) is unique: fetching the same
    forecast again updates in place and never duplicates.
    """

    substation = models.ForeignKey(
        Substation, on_delete=models.CASCADE, related_name="weather_forecasts"
    )
    provider = models.CharField(max_length=32)
    issued_at = models.DateTimeField()
    valid_at = models.DateTimeField()
    ghi_w_m2 = models.FloatField(
        help_text="Global horizontal irradiance (W/m²).",
    )
    dni_w_m2 = models.FloatField(null=True, blank=True)
    dhi_w_m2 = models.FloatField(null=True, blank=True)
    air_temperature_c = models.FloatField(
        validators=[MinValueValidator(-90.0), MaxValueValidator(60.0)]
    )
    wind_speed_m_s = models.FloatField()
    wind_speed_height_m = models.FloatField(
        default=10.0, validators=[MinValueValidator(0.1)]
    )
    cloud_cover_pct = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    fetched_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["substation", "provider", "issued_at", "valid_at"],
                name="weatherforecast_unique_issue_valid",
            ),
            models.CheckConstraint(
                condition=Q(ghi_w_m2__gte=0)
                & (Q(dni_w_m2__isnull=True) | Q(dni_w_m2__gte=0))
                & (Q(dhi_w_m2__isnull=True) | Q(dhi_w_m2__gte=0)),
                name="weatherforecast_irradiance_non_negative",
                violation_error_message="Irradiance cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(wind_speed_m_s__gte=0),
                name="weatherforecast_wind_non_negative",
                violation_error_message="Wind speed cannot be negative.",
            ),
        ]
        indexes = [
            # Prediction: the latest forecast of a substation over a window.
            models.Index(
                fields=["substation", "valid_at", "-issued_at"],
                name="weather_by_valid_time",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.substation_id} {self.provider} for {self.valid_at:%Y-%m-%d %H:%M}"
        )


class EnergyForecast(models.Model):
    """Expected PV and wind output of a substation for one 15-minute bucket, as
    predicted at `issued_at` (step 12); raw model output and the corrected values
    side by side (step 15). Every issue is kept, so accuracy can be measured per
    horizon; the newest issue of a bucket is the forecast in force."""

    substation = models.ForeignKey(
        Substation, on_delete=models.CASCADE, related_name="energy_forecasts"
    )
    issued_at = models.DateTimeField()
    valid_at = models.DateTimeField(help_text="Start of the 15-minute bucket.")
    model_version = models.CharField(max_length=32)
    solar_raw_kw = models.FloatField()
    wind_raw_kw = models.FloatField()
    solar_kw = models.FloatField(help_text="Corrected from actuals (kW).")
    wind_kw = models.FloatField(help_text="Corrected from actuals (kW).")
    expected_generation = models.FloatField(
        help_text="Expected generation (kW): corrected solar + wind."
    )
    capacity_kw = models.FloatField(
        help_text="AC nameplate of the PV and wind assets in service (kW)."
    )
    actual_kw = models.FloatField(null=True, blank=True)
    actual_solar_kw = models.FloatField(
        null=True, blank=True, help_text="Mean measured PV output (kW) over the bucket."
    )
    actual_wind_kw = models.FloatField(
        null=True,
        blank=True,
        help_text="Mean measured wind output (kW) over the bucket.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["substation", "issued_at", "valid_at"],
                name="energyforecast_unique_issue_bucket",
            ),
            models.CheckConstraint(
                condition=Q(solar_raw_kw__gte=0)
                & Q(wind_raw_kw__gte=0)
                & Q(solar_kw__gte=0)
                & Q(wind_kw__gte=0),
                name="energyforecast_non_negative",
                violation_error_message="Expected generation cannot be negative.",
            ),
        ]
        indexes = [
            # The forecast in force: newest issue per bucket of a substation.
            models.Index(
                fields=["substation", "valid_at", "-issued_at"],
                name="energyforecast_in_force",
            ),
            # The dashboard's window over every substation.
            models.Index(fields=["valid_at"], name="energyforecast_by_valid_time"),
        ]

    def __str__(self) -> str:
        kw = self.expected_generation
        return f"{self.substation_id} {self.valid_at:%Y-%m-%d %H:%M} {kw:.1f} kW"


class WeatherFetch(models.Model):
    """One attempt to fetch a substation's weather: what came back, or why not.
    A failed fetch stores no forecast, so the last good one stays in force."""

    substation = models.ForeignKey(
        Substation, on_delete=models.CASCADE, related_name="weather_fetches"
    )
    provider = models.CharField(max_length=32)
    fetched_at = models.DateTimeField()
    ok = models.BooleanField()
    rows = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["substation", "-fetched_at"], name="weatherfetch_latest"
            )
        ]

    def __str__(self) -> str:
        state = "ok" if self.ok else "failed"
        return f"{self.provider} for {self.substation_id} at {self.fetched_at} {state}"


class ForecastAccuracy(models.Model):
    """How good one substation's generation forecasts were over one local day at
    one horizon: MAE, RMSE and bias of the corrected forecast against the
    measured output, normalised by the nameplate in service, and skill against
    persistence. Computed once the day is over (docs/forecasting.md)."""

    substation = models.ForeignKey(
        Substation, on_delete=models.CASCADE, related_name="forecast_accuracy"
    )
    day = models.DateField(help_text="Local day of the substation.")
    horizon_min = models.PositiveSmallIntegerField(
        help_text="Bucket start minus issue time (minutes): 0 to 225."
    )
    samples = models.PositiveIntegerField(help_text="Buckets compared.")
    capacity_kw = models.FloatField(help_text="Mean nameplate in service (kW).")
    mae_kw = models.FloatField(help_text="Mean absolute error (kW).")
    rmse_kw = models.FloatField(help_text="Root mean square error (kW).")
    bias_kw = models.FloatField(
        help_text="Mean of forecast minus actual (kW): positive over-forecasts."
    )
    nmae = models.FloatField(
        null=True, blank=True, help_text="MAE over capacity (fraction)."
    )
    nrmse = models.FloatField(
        null=True, blank=True, help_text="RMSE over capacity (fraction)."
    )
    raw_mae_kw = models.FloatField(help_text="MAE of the uncorrected model (kW).")
    persistence_rmse_kw = models.FloatField(
        help_text="RMSE of persistence: the last measured bucket before issue (kW)."
    )
    skill = models.FloatField(
        null=True,
        blank=True,
        help_text="1 - RMSE / persistence RMSE; 1 is perfect, 0 no better.",
    )
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "forecast accuracy"
        constraints = [
            models.UniqueConstraint(
                fields=["substation", "day", "horizon_min"],
                name="forecastaccuracy_unique_day_horizon",
            ),
        ]
        indexes = [
            # The fleet's day (daily report) and the days already computed (beat).
            models.Index(fields=["day"], name="forecastaccuracy_by_day"),
        ]

    def __str__(self) -> str:
        return f"{self.substation_id} {self.day} +{self.horizon_min} min"
