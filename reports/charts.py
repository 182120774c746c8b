"""Small line charts as inline SVG strings for the daily grid stability report.

The SVG is meant to be embedded in HTML that WeasyPrint turns into a PDF, and
WeasyPrint's SVG support is limited, so the output uses only basic shapes
(``rect``, ``line``, ``polyline``, ``polygon``, ``circle``, ``text``) and
presentation attributes: no ``<style>``, no classes, no ids, no references to
anything outside the element, no scripts. Coordinates are rounded to 0.1 px.

Nothing is ever drawn outside the plot area: lines are clipped at its edges
(they leave through the frame), while the envelope, bands and dots beyond the
range are clamped to the edge or left out.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np

# Numbers per x position: a list, or a numpy array (NaN or None: no data).
Floats = Sequence[float | None] | np.ndarray

__all__ = ["Band", "Line", "chart_svg"]

_PAD = 6.0  # outer margin, px
_TITLE_SIZE = 12.0
_SMALL_SIZE = 9.0  # tick labels, axis label, legend
_EM = 0.62  # estimated glyph advance per font-size unit (DejaVu Sans is wide)
_LINE_COLOR = "#1f4e79"
_GRID = "#e4e4e4"
_INK = "#333333"
_MUTED = "#666666"
_DASH = "5 3"
_STEP_MULTIPLIERS = (1.0, 2.0, 2.5, 5.0)
_X_TICK_EVERY = 3  # hours
_FAR = 1e6  # px beyond the plot area where far-off points are held (no overflow)
_XML_INVALID = re.compile(
    "[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


@dataclass(frozen=True)
class Line:
    """One series; NaN or None in ``values`` means no data (the line breaks)."""

    label: str
    values: Floats  # one per x position
    color: str = _LINE_COLOR
    dashed: bool = False  # so lines are told apart without colour too


@dataclass(frozen=True)
class Band:
    """A horizontal range shaded across the whole plot, behind the lines."""

    low: float
    high: float
    label: str  # e.g. "Deadband ±0.036 Hz", "ANSI Range A"
    color: str = "#dcefdc"  # fill


@dataclass(frozen=True)
class _Plot:
    """The plot area in px and the data range it maps, with y pointing down."""

    left: float
    top: float
    right: float
    bottom: float
    hours_in_day: float
    y_lo: float
    y_hi: float

    def raw_x(self, hours: np.ndarray) -> np.ndarray:
        """X pixel of each hour; far-off values are held within 1e6 px."""
        fraction = hours / self.hours_in_day
        px = self.left + fraction * (self.right - self.left)
        return np.clip(px, self.left - _FAR, self.right + _FAR)

    def raw_y(self, values: np.ndarray) -> np.ndarray:
        """Y pixel of each value (higher = smaller y); far-off held within 1e6 px."""
        fraction = (values - self.y_lo) / (self.y_hi - self.y_lo)
        px = self.bottom - fraction * (self.bottom - self.top)
        return np.clip(px, self.top - _FAR, self.bottom + _FAR)

    def px_x(self, hours: np.ndarray) -> np.ndarray:
        """X pixel of each hour, clamped to the plot area."""
        return np.clip(self.raw_x(hours), self.left, self.right)

    def px_y(self, values: np.ndarray) -> np.ndarray:
        """Y pixel of each value, clamped to the plot area."""
        return np.clip(self.raw_y(values), self.top, self.bottom)


def chart_svg(
    *,
    title: str,
    hours: Floats,
    lines: Sequence[Line],
    y_label: str,
    bands: Sequence[Band] = (),
    envelope: tuple[Floats, Floats] | None = None,
    hours_in_day: float = 24.0,
    y_min: float | None = None,
    y_max: float | None = None,
    width: int = 680,
    height: int = 210,
    clock: Callable[[int], str] | None = None,
) -> str:
    """Render one line chart over a local day as a standalone ``<svg>`` string.

    ``hours`` are x positions in hours since local midnight (0 to
    ``hours_in_day``, which is 23 or 25 on daylight-saving days); every line's
    values and both envelope sequences must have the same length. The result
    is one well-formed ``<svg>`` element with ``viewBox="0 0 width height"``,
    ``role="img"``, ``aria-label`` and ``<title>`` set to ``title``; all text
    is XML-escaped. Draw order: bands, grid, envelope, lines, frame. If no
    line and no envelope has a finite value the plot says "No data" instead,
    without a y scale unless bands or both y limits give one.

    The y range is ``y_min``/``y_max`` where given, else the finite data and
    band edges padded by 5 %. X tick labels are ``clock(h)`` for each tick at h
    hours since midnight (the caller knows the day's daylight-saving change),
    else h modulo 24 as "HH:00".

    Raises ValueError on mismatched lengths, a non-positive ``hours_in_day``
    or size, or ``y_min``/``y_max`` that are not finite or not increasing.
    """
    if hours_in_day <= 0 or width <= 0 or height <= 0:
        raise ValueError("hours_in_day, width and height must be positive")
    x = _as_array(hours)
    series = [_as_array(line.values, len(x), line.label) for line in lines]
    env = None
    if envelope is not None:
        env = tuple(_as_array(side, len(x), "envelope") for side in envelope)
    data = [*series, *(env or ())]
    drawable = [np.isfinite(x) & np.isfinite(a) for a in series]
    if env is not None:
        drawable.append(np.isfinite(x) & np.isfinite(env[0]) & np.isfinite(env[1]))
    has_data = any(mask.any() for mask in drawable)
    y_lo, y_hi = _y_range(data, bands, y_min, y_max)
    ticks, decimals = _nice_ticks(y_lo, y_hi)
    if not (has_data or bands or (y_min is not None and y_max is not None)):
        ticks = []  # with nothing to scale by, any values would be made up
    labels = [_tick_label(t, decimals) for t in ticks]

    parts = [_svg_open(title, width, height), f"<title>{_esc(title)}</title>"]
    parts.append(_title_text(title, width))
    legend, legend_bottom = _legend(lines, bands, width, _PAD + _TITLE_SIZE + 4)
    parts += legend
    plot = _layout(labels, legend_bottom, width, height, hours_in_day, y_lo, y_hi)
    parts += _bands(plot, bands)
    parts += _grid_and_axes(plot, ticks, labels, y_label, clock)
    parts += _data(plot, x, lines, series, env) if has_data else []
    parts.append(_frame(plot))
    parts += [] if has_data else [_no_data(plot)]
    parts.append("</svg>")
    return "\n".join(parts)


def _data(
    plot: _Plot,
    x: np.ndarray,
    lines: Sequence[Line],
    series: Sequence[np.ndarray],
    envelope: tuple[np.ndarray, ...] | None,
) -> list[str]:
    """The envelope (in the first line's colour), then every line in order."""
    parts = []
    if envelope is not None:
        color = lines[0].color if lines else _LINE_COLOR
        parts += _envelope(plot, x, envelope, color)
    for line, values in zip(lines, series, strict=True):
        parts += _line(plot, x, values, line)
    return parts


# --- data --------------------------------------------------------------------


def _as_array(values: Floats, length: int | None = None, what: str = "") -> np.ndarray:
    """Values as a float array, None as NaN; checks the length when given."""
    array = np.asarray(values, dtype=float).reshape(-1)
    if length is not None and len(array) != length:
        raise ValueError(f"{what!r} has {len(array)} values for {length} x positions")
    return array


def _runs(ok: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of every maximal run of True in ``ok``."""
    edges = np.diff(np.concatenate(([0], ok.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _flat_half_span(value: float) -> float:
    """Half the span to show around a flat series: 5 % of |value|, else 1."""
    return 0.05 * abs(value) or 1.0


def _y_range(
    data: Sequence[np.ndarray],
    bands: Sequence[Band],
    y_min: float | None,
    y_max: float | None,
) -> tuple[float, float]:
    """(low, high) with high > low, both finite.

    Explicit limits win; otherwise the span of the finite data and band edges,
    padded by 5 % (a flat series gets ±5 % of its value, or ±1 around 0).
    """
    for limit in (y_min, y_max):
        if limit is not None and not math.isfinite(limit):
            raise ValueError("y_min and y_max must be finite")
    edges = [e for band in bands for e in (band.low, band.high)]
    finite = [a[np.isfinite(a)] for a in (*data, np.asarray(edges, dtype=float))]
    values = np.concatenate(finite)
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    pad = 0.05 * (hi - lo) if hi > lo else _flat_half_span(lo)
    lo, hi = lo - pad, hi + pad
    if y_min is not None and y_max is not None and y_max <= y_min:
        raise ValueError("y_max must be greater than y_min")
    lo = lo if y_min is None else float(y_min)
    hi = hi if y_max is None else float(y_max)
    if hi <= lo:  # one explicit limit is beyond all the data
        if y_min is not None:
            hi = lo + 2 * _flat_half_span(lo)
        else:
            lo = hi - 2 * _flat_half_span(hi)
    return lo, hi


def _nice_ticks(lo: float, hi: float) -> tuple[list[float], int]:
    """Tick values inside [lo, hi] at a 1, 2, 2.5 or 5 x 10^n step, and decimals.

    Picks the step giving 4 to 6 ticks (5 preferred, then the fewest decimals);
    if no step does, the one whose count is nearest to 5. The decimals are
    exactly those the step needs, so labels are never rounded.
    """
    exponent = math.floor(math.log10(hi - lo))
    best: tuple[tuple[bool, int, int, int], list[float], int] | None = None
    for e in range(exponent - 2, exponent + 1):
        for multiplier in _STEP_MULTIPLIERS:
            step = multiplier * 10.0**e
            decimals = max(0, -e + (1 if multiplier == 2.5 else 0))
            first = math.ceil(lo / step - 1e-9)
            last = math.floor(hi / step + 1e-9)
            count = last - first + 1
            key = (not 4 <= count <= 6, abs(count - 5), -count, decimals)
            if best is None or key < best[0]:
                values = [round(k * step, decimals) for k in range(first, last + 1)]
                best = (key, values, decimals)
    assert best is not None
    return best[1], best[2]


def _tick_label(value: float, decimals: int) -> str:
    """The value with thousands separators and fixed decimals, never "-0"."""
    return f"{(value or 0.0):,.{decimals}f}"  # `or` turns -0.0 into 0.0


def _x_ticks(hours_in_day: float) -> list[int]:
    """Whole hours every 3 hours from 0 up to and including hours_in_day."""
    return list(range(0, math.floor(hours_in_day) + 1, _X_TICK_EVERY))


# --- layout ------------------------------------------------------------------


def _text_width(text: str, size: float) -> float:
    """Estimated rendered width of ``text`` in px (generous for sans-serif)."""
    return len(text) * size * _EM


def _fit(text: str, size: float, room: float) -> str:
    """``text`` shortened with an ellipsis so its estimated width fits ``room``."""
    if _text_width(text, size) <= room:
        return text
    keep = max(int(room / (size * _EM)) - 1, 0)
    return text[:keep].rstrip() + "…"


def _layout(
    labels: Sequence[str],
    top: float,
    width: int,
    height: int,
    hours_in_day: float,
    y_lo: float,
    y_hi: float,
) -> _Plot:
    """The plot area: room for the y label and tick labels left, x labels below."""
    label_room = max((_text_width(s, _SMALL_SIZE) for s in labels), default=0.0)
    left = _PAD + _SMALL_SIZE + 6 + label_room + 5
    right = width - max(_PAD, _text_width("00:00", _SMALL_SIZE) / 2 + 2)
    bottom = height - (_PAD + _SMALL_SIZE + 5)
    top = min(top + 7, bottom - 10)  # a degenerate size still gives a valid plot
    right = max(right, left + 10)
    box = (round(v, 1) for v in (left, top, right, bottom))  # as the SVG will say
    return _Plot(*box, hours_in_day, y_lo, y_hi)


# --- SVG pieces --------------------------------------------------------------


def _esc(text: str) -> str:
    """Text safe inside an XML element or a double-quoted attribute."""
    return escape(_XML_INVALID.sub("", str(text)), {'"': "&quot;"})


def _n(value: float) -> str:
    """A coordinate rounded to 0.1 px, without a trailing ".0"."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


@functools.lru_cache(maxsize=8)
def _tenths(limit: int) -> tuple[str, ...]:
    """The text of every multiple of 0.1 from 0 to ``limit``: index 10 is "1.0"."""
    return tuple(f"{i / 10:.1f}" for i in range(10 * limit + 1))


def _pairs(plot: _Plot, xs: np.ndarray, ys: np.ndarray) -> list[str]:
    """Each point as "x,y" text, coordinates in the plot area rounded to 0.1 px.

    Coordinates are looked up in a table of formatted tenths (several times
    faster than formatting thousands of floats); any outside the plot area
    would be pulled onto its edge, so callers clip or clamp first.
    """
    table = _tenths(math.ceil(max(plot.right, plot.bottom)))
    x_index = np.rint(np.clip(xs, plot.left, plot.right) * 10).astype(np.int64)
    y_index = np.rint(np.clip(ys, plot.top, plot.bottom) * 10).astype(np.int64)
    pairs = zip(x_index.tolist(), y_index.tolist(), strict=True)
    return [table[i] + "," + table[j] for i, j in pairs]


def _points(plot: _Plot, xs: np.ndarray, ys: np.ndarray) -> str:
    """An SVG ``points`` list: ``_pairs`` separated by spaces."""
    return " ".join(_pairs(plot, xs, ys))


def _text(
    x: float,
    y: float,
    content: str,
    *,
    size: float,
    anchor: str = "start",
    **attrs: str,
) -> str:
    """A ``<text>`` element in sans-serif; extra attrs keep their own names."""
    extra = "".join(f' {k.replace("_", "-")}="{_esc(v)}"' for k, v in attrs.items())
    return (
        f'<text x="{_n(x)}" y="{_n(y)}" font-family="sans-serif" '
        f'font-size="{_n(size)}" text-anchor="{anchor}"{extra}>{_esc(content)}</text>'
    )


def _svg_open(title: str, width: int, height: int) -> str:
    """The opening ``<svg>`` tag with size, viewBox and accessible name."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_esc(title)}">'
    )


def _title_text(title: str, width: int) -> str:
    """The chart title at top-left, bold, shortened to fit the width."""
    shown = _fit(title, _TITLE_SIZE, width - 2 * _PAD)
    return _text(
        _PAD,
        _PAD + _TITLE_SIZE - 2,
        shown,
        size=_TITLE_SIZE,
        fill=_INK,
        font_weight="bold",
    )


def _legend(
    lines: Sequence[Line], bands: Sequence[Band], width: int, top: float
) -> tuple[list[str], float]:
    """Legend entries in rows wrapping within the width, and the y below them.

    Lines get a short sample in their colour and dash, bands a filled square.
    """
    parts: list[str] = []
    entries = [(line.label, line) for line in lines]
    entries += [(band.label, band) for band in bands]
    if not entries:
        return parts, top
    row_height = _SMALL_SIZE + 4
    x, baseline = _PAD, top + _SMALL_SIZE + 2
    for label, item in entries:
        sample = 18.0 if isinstance(item, Line) else 9.0
        room = width - 2 * _PAD - sample - 4
        text = _fit(label, _SMALL_SIZE, room)
        entry = sample + 4 + _text_width(text, _SMALL_SIZE)
        if x > _PAD and x + entry > width - _PAD:
            x, baseline = _PAD, baseline + row_height
        parts.append(_legend_sample(item, x, baseline - 3, sample))
        parts.append(_text(x + sample + 4, baseline, text, size=_SMALL_SIZE, fill=_INK))
        x += entry + 12
    return parts, baseline + 3


def _legend_sample(item: Line | Band, x: float, mid_y: float, size: float) -> str:
    """A line sample (colour and dash) or a filled square centred on ``mid_y``."""
    if isinstance(item, Line):
        dash = f' stroke-dasharray="{_DASH}"' if item.dashed else ""
        return (
            f'<line x1="{_n(x)}" y1="{_n(mid_y)}" x2="{_n(x + size)}" '
            f'y2="{_n(mid_y)}" stroke="{_esc(item.color)}" stroke-width="1.6"{dash}/>'
        )
    return (
        f'<rect x="{_n(x)}" y="{_n(mid_y - size / 2)}" width="{_n(size)}" '
        f'height="{_n(size)}" fill="{_esc(item.color)}" stroke="#999999" '
        f'stroke-width="0.5"/>'
    )


def _bands(plot: _Plot, bands: Sequence[Band]) -> list[str]:
    """One full-width filled rect per band, clamped; bands out of range omitted.

    Taller bands are drawn first so that a band nested in another stays visible.
    """
    parts = []
    for band in sorted(bands, key=lambda b: -abs(b.high - b.low)):
        edges = plot.px_y(
            np.array([max(band.low, band.high), min(band.low, band.high)])
        )
        top, bottom = (float(v) for v in np.round(edges, 1))
        if not math.isfinite(top + bottom) or bottom - top < 0.1:  # NaN, no area
            continue
        parts.append(
            f'<rect x="{_n(plot.left)}" y="{_n(top)}" '
            f'width="{_n(plot.right - plot.left)}" height="{_n(bottom - top)}" '
            f'fill="{_esc(band.color)}" stroke="none"/>'
        )
    return parts


def _grid_and_axes(
    plot: _Plot,
    ticks: Sequence[float],
    labels: Sequence[str],
    y_label: str,
    clock: Callable[[int], str] | None,
) -> list[str]:
    """Light grid lines, tick marks and labels on both axes, the rotated y label."""
    parts = []
    ys = plot.px_y(np.asarray(ticks, dtype=float))
    for y, label in zip(ys.tolist(), labels, strict=True):
        parts.append(_segment(plot.left, y, plot.right, y, _GRID, 0.6))
        parts.append(_segment(plot.left - 3, y, plot.left, y, _MUTED, 0.6))
        parts.append(
            _text(
                plot.left - 5, y + 3, label, size=_SMALL_SIZE, anchor="end", fill=_INK
            )
        )
    hours = _x_ticks(plot.hours_in_day)
    xs = plot.px_x(np.asarray(hours, dtype=float))
    for x, hour in zip(xs.tolist(), hours, strict=True):
        parts.append(_segment(x, plot.top, x, plot.bottom, _GRID, 0.6))
        parts.append(_segment(x, plot.bottom, x, plot.bottom + 3, _MUTED, 0.6))
        parts.append(
            _text(
                x,
                plot.bottom + 4 + _SMALL_SIZE,
                clock(hour) if clock else f"{hour % 24:02d}:00",
                size=_SMALL_SIZE,
                anchor="middle",
                fill=_INK,
            )
        )
    parts.append(_y_label(plot, y_label))
    return parts


def _y_label(plot: _Plot, y_label: str) -> str:
    """The y axis label, rotated to read bottom-up, centred on the plot height."""
    x, y = _PAD + _SMALL_SIZE - 1, (plot.top + plot.bottom) / 2
    shown = _fit(y_label, _SMALL_SIZE, plot.bottom - plot.top + 2 * _SMALL_SIZE)
    return _text(
        x,
        y,
        shown,
        size=_SMALL_SIZE,
        anchor="middle",
        fill=_INK,
        transform=f"rotate(-90 {_n(x)} {_n(y)})",
    )


def _segment(x1: float, y1: float, x2: float, y2: float, color: str, w: float) -> str:
    """A straight ``<line>``."""
    return (
        f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" '
        f'stroke="{color}" stroke-width="{_n(w)}"/>'
    )


def _envelope(
    plot: _Plot,
    x: np.ndarray,
    envelope: tuple[np.ndarray, ...],
    color: str,
) -> list[str]:
    """One light, semi-transparent polygon per run where both bounds are finite.

    Bounds beyond the y range are clamped to the plot edge. A run of a single
    x position becomes a short vertical line instead.
    """
    low, high = envelope
    ok = np.isfinite(x) & np.isfinite(low) & np.isfinite(high)
    px, py_low, py_high = plot.px_x(x), plot.px_y(low), plot.px_y(high)
    fill = _esc(color)
    parts = []
    for start, stop in _runs(ok):
        if stop - start == 1:
            parts.append(
                f'<line x1="{_n(px[start])}" y1="{_n(py_low[start])}" '
                f'x2="{_n(px[start])}" y2="{_n(py_high[start])}" stroke="{fill}" '
                f'stroke-opacity="0.2" stroke-width="1"/>'
            )
            continue
        xs = np.concatenate((px[start:stop], px[start:stop][::-1]))
        ys = np.concatenate((py_high[start:stop], py_low[start:stop][::-1]))
        parts.append(
            f'<polygon points="{_points(plot, xs, ys)}" fill="{fill}" '
            f'fill-opacity="0.2" stroke="none"/>'
        )
    return parts


def _line(plot: _Plot, x: np.ndarray, values: np.ndarray, line: Line) -> list[str]:
    """One polyline per run of finite values, cut where it leaves the plot area.

    Segments are clipped geometrically at the plot edges (a line that leaves
    the range exits through the frame instead of running along it); a lone
    finite point is a dot, drawn only if it lies inside the plot area.
    """
    ok = np.isfinite(x) & np.isfinite(values)  # ±inf is a gap too, not off-scale
    px = np.where(ok, plot.raw_x(x), np.nan)
    py = np.where(ok, plot.raw_y(values), np.nan)
    color = _esc(line.color)
    dash = f' stroke-dasharray="{_DASH}"' if line.dashed else ""
    xs, ys, offsets = _clip(plot, px, py)
    pairs = _pairs(plot, xs, ys)
    parts = [
        f'<polyline points="{" ".join(pairs[first:stop])}" fill="none" '
        f'stroke="{color}" stroke-width="1.2" stroke-linejoin="round"{dash}/>'
        for first, stop in itertools.pairwise(offsets)
    ]
    for i in np.flatnonzero(_lone_points(plot, px, py)).tolist():
        parts.append(
            f'<circle cx="{_n(px[i])}" cy="{_n(py[i])}" r="1.5" '
            f'fill="{color}" stroke="none"/>'
        )
    return parts


def _lone_points(plot: _Plot, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Mask of the finite points inside the plot area with no finite neighbour."""
    finite = np.isfinite(px) & np.isfinite(py)
    before = np.concatenate(([False], finite[:-1]))
    after = np.concatenate((finite[1:], [False]))
    inside = (px >= plot.left) & (px <= plot.right)
    inside &= (py >= plot.top) & (py <= plot.bottom)
    return finite & ~before & ~after & inside


def _clip(
    plot: _Plot, xs: np.ndarray, ys: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The pieces of the polyline through (xs, ys) that lie inside the plot area.

    Every segment between two finite points is clipped to the plot rectangle
    (Liang-Barsky); consecutive visible segments that still meet at their
    shared point form one piece. Returns the pieces' points end to end and
    the offsets where each piece starts, followed by the total.
    """
    x0, y0, dx, dy = xs[:-1], ys[:-1], np.diff(xs), np.diff(ys)
    t0, t1 = np.zeros_like(dx), np.ones_like(dx)
    visible = np.isfinite(dx) & np.isfinite(dy)
    edges = (
        (-dx, x0 - plot.left),
        (dx, plot.right - x0),
        (-dy, y0 - plot.top),
        (dy, plot.bottom - y0),
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        for p, q in edges:
            visible &= (p != 0) | (q >= 0)  # not parallel to and outside the edge
            t0 = np.where(p < 0, np.maximum(t0, q / p), t0)
            t1 = np.where(p > 0, np.minimum(t1, q / p), t1)
    visible &= t0 < t1
    joined = visible[:-1] & visible[1:] & (t1[:-1] == 1) & (t0[1:] == 0)
    segments = np.flatnonzero(visible)
    opens = ~np.concatenate(([False], joined))[segments]  # starts a new piece
    ends = np.cumsum(1 + opens) - 1  # where each segment's end point goes
    total = int(ends[-1]) + 1 if segments.size else 0
    heads = ends[opens] - 1  # where each piece's first point goes
    out_x, out_y = np.empty(total), np.empty(total)
    out_x[ends] = x0[segments] + t1[segments] * dx[segments]
    out_y[ends] = y0[segments] + t1[segments] * dy[segments]
    first = segments[opens]
    out_x[heads] = x0[first] + t0[first] * dx[first]
    out_y[heads] = y0[first] + t0[first] * dy[first]
    return out_x, out_y, [*heads.tolist(), total]


def _frame(plot: _Plot) -> str:
    """The plot area's outline (the only rect with ``fill="none"``)."""
    return (
        f'<rect x="{_n(plot.left)}" y="{_n(plot.top)}" '
        f'width="{_n(plot.right - plot.left)}" height="{_n(plot.bottom - plot.top)}" '
        f'fill="none" stroke="#999999" stroke-width="0.8"/>'
    )


def _no_data(plot: _Plot) -> str:
    """A centred "No data" note in the plot area."""
    return _text(
        (plot.left + plot.right) / 2,
        (plot.top + plot.bottom) / 2 + 4,
        "No data",
        size=11,
        anchor="middle",
        fill=_MUTED,
    )
