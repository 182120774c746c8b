"""A 4-hour generation forecast for 10,000 PV arrays in one substation.

`forecast_predict` (weather in force, the PV and wind assets, pvlib over every
array, the upsert of 16 buckets), median of 5, next to a floor measured in the
same run: the same reads in hand-written SQL, the same pvlib call, one INSERT.
Target: under 2 s.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from django.db import connection, transaction

N = 10_000
CODE = "bench-forecast"
NOON = datetime(2026, 6, 21, 18, 0, tzinfo=UTC)


def site():
    from assets.models import AssetKind, DERAsset, Owner
    from bench.common import bench_substation
    from forecasting.models import WeatherForecast

    substation = bench_substation(CODE)
    owner, _ = Owner.objects.get_or_create(
        email="bench@example.org", defaults={"name": "Bench"}
    )
    have = DERAsset.objects.filter(substation=substation, kind=AssetKind.PV).count()
    rng = np.random.default_rng(12)
    DERAsset.objects.bulk_create(
        [
            DERAsset(
                uid=f"{CODE}-pv-{i}",
                name="bench PV",
                kind=AssetKind.PV,
                owner=owner,
                substation=substation,
                max_discharge_power=0,
                energy_capacity_kwh=0,
                state_of_charge=0,
                pv_dc_kwp=float(rng.uniform(3, 12)),
                pv_tilt_deg=float(rng.uniform(10, 40)),
                pv_azimuth_deg=float(rng.uniform(90, 270)),
            )
            for i in range(have, N)
        ],
        batch_size=5000,
    )
    WeatherForecast.objects.bulk_create(
        [
            WeatherForecast(
                substation=substation,
                provider="bench",
                issued_at=NOON,
                valid_at=at.to_pydatetime(),
                ghi_w_m2=800.0,
                air_temperature_c=25.0,
                wind_speed_m_s=5.0,
            )
            for at in pd.date_range(NOON - timedelta(hours=1), periods=25, freq="15min")
        ],
        ignore_conflicts=True,
    )
    return substation


def floor(substation) -> None:
    from forecasting.solar import pv_power_kw

    buckets = pd.date_range(NOON, periods=16, freq="15min")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT valid_at, ghi_w_m2, air_temperature_c, wind_speed_m_s "
            "FROM forecasting_weatherforecast WHERE substation_id = %s "
            "AND valid_at BETWEEN %s AND %s ORDER BY valid_at",
            [substation.pk, NOON - timedelta(hours=1), NOON + timedelta(hours=5)],
        )
        weather = np.array([row[1:] for row in cursor.fetchall()], dtype=float)
        cursor.execute(
            "SELECT pv_dc_kwp, pv_tilt_deg, pv_azimuth_deg FROM assets_derasset "
            "WHERE substation_id = %s AND kind = 'pv' AND status = 'active'",
            [substation.pk],
        )
        kwp, tilt, azimuth = np.array(cursor.fetchall(), dtype=float).T
        ac = pv_power_kw(
            times=buckets + timedelta(minutes=7.5),
            latitude=substation.latitude,
            longitude=substation.longitude,
            ghi_w_m2=weather[4:20, 0],
            air_temperature_c=weather[4:20, 1],
            wind_speed_m_s=weather[4:20, 2],
            dc_kwp=kwp,
            tilt_deg=tilt,
            azimuth_deg=azimuth,
            ac_limit_kw=np.full(len(kwp), np.nan),
        ).sum(axis=1)
        cursor.execute(
            "DELETE FROM forecasting_energyforecast WHERE substation_id = %s "
            "AND issued_at = %s",
            [substation.pk, NOON - timedelta(days=365)],
        )
        cursor.executemany(
            "INSERT INTO forecasting_energyforecast (substation_id, issued_at, "
            "valid_at, model_version, solar_raw_kw, wind_raw_kw, solar_kw, wind_kw, "
            "expected_generation, capacity_kw) VALUES (%s, %s, %s, 'floor', %s, 0, "
            "%s, 0, %s, 0)",
            [
                (
                    substation.pk,
                    NOON - timedelta(days=365),
                    at.to_pydatetime(),
                    float(kw),
                    float(kw),
                    float(kw),
                )
                for at, kw in zip(buckets, ac, strict=True)
            ],
        )


def main() -> None:
    from bench.common import median_s, report
    from forecasting.services import forecast_predict

    substation = site()
    floor_s = median_s(lambda: floor(substation))
    ours_s = median_s(lambda: forecast_predict(substation=substation, now=NOON))
    report("floor: SQL reads, pvlib, 16 inserts", floor_s, N)
    report("forecast_predict (median of 5)", ours_s, N, floor_s)
    print(f"  {N:,} PV arrays x 16 buckets in {ours_s:.2f} s (target < 2 s)")
