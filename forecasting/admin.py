from django.contrib import admin

from dermgmt.admin import ReadOnlyAdmin
from forecasting.models import EnergyForecast, ForecastAccuracy, WeatherForecast


@admin.register(WeatherForecast)
class WeatherForecastAdmin(admin.ModelAdmin):
    list_display = [
        "valid_at",
        "substation",
        "provider",
        "issued_at",
        "ghi_w_m2",
        "air_temperature_c",
        "wind_speed_m_s",
    ]
    list_filter = ["provider", "substation"]
    list_select_related = ["substation"]
    date_hierarchy = "valid_at"
    ordering = ["-valid_at"]
    show_full_result_count = False


@admin.register(EnergyForecast)
class EnergyForecastAdmin(ReadOnlyAdmin):
    list_display = [
        "valid_at",
        "substation",
        "issued_at",
        "expected_generation",
        "solar_kw",
        "wind_kw",
        "solar_raw_kw",
        "wind_raw_kw",
        "actual_kw",
        "capacity_kw",
    ]
    list_filter = ["substation", "model_version"]
    list_select_related = ["substation"]
    date_hierarchy = "valid_at"
    ordering = ["-valid_at", "-issued_at"]
    show_full_result_count = False


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


@admin.register(ForecastAccuracy)
class ForecastAccuracyAdmin(ReadOnlyAdmin):
    """A day's accuracy per horizon: where the forecast is good and where not."""

    list_display = [
        "day",
        "substation",
        "horizon",
        "samples",
        "normalised_mae",
        "normalised_rmse",
        "bias_kw",
        "skill_vs_persistence",
        "mae_kw",
        "raw_mae_kw",
    ]
    list_filter = ["substation", "horizon_min"]
    list_select_related = ["substation"]
    date_hierarchy = "day"
    ordering = ["-day", "substation", "horizon_min"]
    show_full_result_count = False

    @admin.display(description="horizon", ordering="horizon_min")
    def horizon(self, row: ForecastAccuracy) -> str:
        return f"+{row.horizon_min} min"

    @admin.display(description="MAE / capacity", ordering="nmae")
    def normalised_mae(self, row: ForecastAccuracy) -> str:
        return percent(row.nmae)

    @admin.display(description="RMSE / capacity", ordering="nrmse")
    def normalised_rmse(self, row: ForecastAccuracy) -> str:
        return percent(row.nrmse)

    @admin.display(description="skill vs persistence", ordering="skill")
    def skill_vs_persistence(self, row: ForecastAccuracy) -> str:
        return percent(row.skill)
