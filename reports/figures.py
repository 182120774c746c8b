"""The report's statistics from arrays, no database: each reading stands for the
time until the next reading of its substation, at most the policy's reading age
(beyond that the grid was not observed), so shares are shares of observed time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from incidents.rules import FREQUENCY_NOMINAL_HZ, RANGE_A_PU, RANGE_B_PU

# The standards' bands are the incident rules': one definition of each.
RANGE_A = RANGE_A_PU  # ANSI C84.1 service voltage (pu)
RANGE_B = RANGE_B_PU
EXCURSION_HZ = FREQUENCY_NOMINAL_HZ  # excursions: beyond this, either side
TOP_EXCURSIONS = 5


def time_weights(
    t_s: np.ndarray, group: np.ndarray, *, end_s: float, max_gap_s: np.ndarray
) -> np.ndarray:
    """Seconds each sample stands for: until the next sample of its group (rows
    sorted by group then time), at most `max_gap_s`, never past `end_s`."""
    if not len(t_s):
        return np.zeros(0)
    following = np.append(t_s[1:], end_s)
    last_of_group = np.append(group[1:] != group[:-1], True)
    following = np.where(last_of_group, end_s, following)
    return np.clip(np.minimum(following - t_s, max_gap_s), 0, None)


def inside(values: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    return (values >= band[0]) & (values <= band[1])


def weighted_share(inside: np.ndarray, weights: np.ndarray) -> float | None:
    total = weights.sum()
    return float(weights[inside].sum() / total) if total > 0 else None


@dataclass(frozen=True)
class Excursion:
    substation_id: int
    start_s: float
    duration_s: float
    extreme_hz: float  # deviation from nominal furthest out


def excursions(
    outside: np.ndarray,
    t_s: np.ndarray,
    group: np.ndarray,
    weights: np.ndarray,
    deviation_hz: np.ndarray,
) -> list[Excursion]:
    """Runs of consecutive samples of one group outside the band, a run broken by
    a sample inside, a new group or a gap in the data (a sample whose weight
    ended before the next sample). Longest first."""
    if not outside.any():
        return []
    following = np.append(t_s[1:], np.inf)
    contiguous = np.append(
        (group[1:] == group[:-1]) & (t_s[:-1] + weights[:-1] >= following[:-1] - 1e-6),
        False,
    )
    # A run starts at an outside sample whose predecessor is not an outside,
    # contiguous sample of the same run.
    continues = np.append(False, outside[:-1] & contiguous[:-1])
    starts = outside & ~continues
    run = np.cumsum(starts) - 1
    frame = pd.DataFrame(
        {
            "run": run[outside],
            "group": group[outside],
            "t": t_s[outside],
            "w": weights[outside],
            "dev": deviation_hz[outside],
            "abs": np.abs(deviation_hz[outside]),
        }
    )
    runs = frame.groupby("run").agg(
        group=("group", "first"), start=("t", "first"), duration=("w", "sum")
    )
    runs["extreme"] = frame.loc[frame.groupby("run")["abs"].idxmax(), "dev"].values
    runs = runs.sort_values("duration", ascending=False)
    return [
        Excursion(int(r.group), float(r.start), float(r.duration), float(r.extreme))
        for r in runs.itertuples()
    ]


def weighted_stats(values: np.ndarray, weights: np.ndarray) -> dict[str, float | None]:
    """Min, max, time-weighted mean and standard deviation."""
    total = weights.sum()
    if not len(values) or total <= 0:
        return {"min": None, "max": None, "mean": None, "std": None}
    # Rows from before the ingest's bounds may overflow: inf, shown as a dash.
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float((values * weights).sum() / total)
        variance = float((weights * (values - mean) ** 2).sum() / total)
    return {
        "min": float(values.min()),
        "max": float(values.max()),
        "mean": mean,
        "std": variance**0.5,
    }


def per_bin(
    t_s: np.ndarray, values: np.ndarray, *, bin_s: float, bins: int
) -> pd.DataFrame:
    """Mean, min and max of `values` in each bin of `bin_s` seconds (NaN where
    none), for the charts: one point per minute keeps a day readable."""
    index = np.clip((t_s // bin_s).astype(int), 0, bins - 1)
    grouped = pd.Series(values).groupby(index).agg(["mean", "min", "max"])
    return grouped.reindex(range(bins))
