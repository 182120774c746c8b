from django.contrib import admin

from grid.models import GridReading, GridSensor, Substation


@admin.register(Substation)
class SubstationAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "nominal_frequency_hz",
        "nominal_voltage_v",
        "import_capacity_kw",
        "time_zone",
    ]
    list_filter = ["nominal_frequency_hz", "time_zone"]
    search_fields = ["code", "name"]
    ordering = ["code"]


@admin.register(GridSensor)
class GridSensorAdmin(admin.ModelAdmin):
    list_display = ["uid", "name", "substation", "is_active", "last_reading_at"]
    list_filter = ["is_active", "substation"]
    search_fields = ["uid", "name", "substation__code"]
    list_select_related = ["substation"]
    ordering = ["uid"]


@admin.register(GridReading)
class GridReadingAdmin(admin.ModelAdmin):
    list_display = [
        "measured_at",
        "substation",
        "sensor",
        "frequency_hz",
        "voltage_pu",
        "load_kw",
    ]
    list_filter = ["substation"]
    search_fields = ["substation__code", "sensor__uid"]
    list_select_related = ["substation", "sensor"]
    date_hierarchy = "measured_at"
    ordering = ["-measured_at"]
    raw_id_fields = ["sensor"]
    show_full_result_count = False  # readings grow by millions; skip COUNT(*)
