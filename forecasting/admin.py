from django.contrib import admin

from dermgmt.admin import ReadOnlyAdmin
from forecasting.models import EnergyForecast, WeatherForecast


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
