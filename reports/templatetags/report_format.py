"""Numbers as the report prints them: a missing figure is a dash, never 'None'."""

from __future__ import annotations

import math

from django import template

register = template.Library()
DASH = "—"


def missing(value) -> bool:
    """None, '' (what a template gives for a figure of a missing section), or a
    number that is not finite: no PDF ever prints inf or nan."""
    if isinstance(value, float) and not math.isfinite(value):
        return True
    return value is None or value == ""


@register.filter
def pct(value: float | None, digits: int = 1) -> str:
    """0.9731 -> '97.3 %'."""
    return DASH if missing(value) else f"{value * 100:.{digits}f} %"


@register.filter
def num(value: float | None, digits: int = 1) -> str:
    """1234.56 -> '1,234.6'."""
    return DASH if missing(value) else f"{value:,.{digits}f}"


@register.filter
def duration(seconds: float | None) -> str:
    """Seconds as '42 s', '7 min 05 s' or '3 h 20 min'."""
    if missing(seconds):
        return DASH
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
