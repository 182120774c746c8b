from django.contrib import admin

from forecasting.models import WeatherForecast


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
