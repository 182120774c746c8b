"""Inline SVG line charts for the daily report: well-formed, honest, WeasyPrint-safe."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from reports.charts import Band, Line, chart_svg

SVG = "{http://www.w3.org/2000/svg}"
MINUTES = np.arange(1440) / 60  # one x position per minute of a 24-hour day


def chart(**overrides) -> str:
    arguments = {
        "title": "Frequency deviation",
        "hours": MINUTES,
        "lines": [Line("Δf", 30 * np.sin(MINUTES / 4))],
        "y_label": "Δf (mHz)",
    }
    return chart_svg(**(arguments | overrides))


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on anything that is not well-formed


def all_of(root: ET.Element, tag: str) -> list[ET.Element]:
    return list(root.iter(SVG + tag))


def plot_area(root: ET.Element) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of the frame: the one rect that is not filled."""
    (frame,) = [r for r in all_of(root, "rect") if r.get("fill") == "none"]
    left, top = float(frame.get("x")), float(frame.get("y"))
    return left, top, left + float(frame.get("width")), top + float(frame.get("height"))


def points(shape: ET.Element) -> list[tuple[float, float]]:
    pairs = (p.split(",") for p in shape.get("points").split())
    return [(float(x), float(y)) for x, y in pairs]


def y_ticks(root: ET.Element) -> list[tuple[str, float]]:
    """(label, baseline y) of each y tick label: the right-aligned texts."""
    texts = [t for t in all_of(root, "text") if t.get("text-anchor") == "end"]
    return [(t.text, float(t.get("y"))) for t in texts]


def x_ticks(root: ET.Element) -> list[tuple[str, float]]:
    """(label, x) of each x tick label: the unrotated centred texts under the plot."""
    bottom = plot_area(root)[3]
    return [
        (t.text, float(t.get("x")))
        for t in all_of(root, "text")
        if t.get("text-anchor") == "middle"
        and t.get("transform") is None
        and float(t.get("y")) > bottom
    ]


def band_rects(root: ET.Element) -> list[ET.Element]:
    """The filled rects spanning the plot width, in drawing order."""
    left, _, right, _ = plot_area(root)
    return [
        r
        for r in all_of(root, "rect")
        if r.get("fill") != "none"
        and float(r.get("width")) == pytest.approx(right - left)
    ]


def inside(x: float, y: float, area: tuple[float, float, float, float]) -> bool:
    left, top, right, bottom = area
    return left <= x <= right and top <= y <= bottom


def test_it_returns_one_svg_element_with_size_viewbox_and_accessible_name():
    root = parse(chart(title="Grid frequency, 2026-03-29", width=600, height=200))

    assert root.tag == SVG + "svg"
    assert root.get("viewBox") == "0 0 600 200"
    assert (root.get("width"), root.get("height")) == ("600", "200")
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Grid frequency, 2026-03-29"
    assert root.find(SVG + "title").text == "Grid frequency, 2026-03-29"


def test_it_uses_no_css_scripts_or_references_weasyprint_cannot_handle():
    svg = chart(bands=[Band(-36, 36, "Deadband")], envelope=([-50] * 1440, [50] * 1440))
    root = parse(svg)

    tags = {element.tag.removeprefix(SVG) for element in root.iter()}
    assert tags <= {"svg", "title", "text", "line", "rect", "polyline", "polygon"}
    attributes = {name for element in root.iter() for name in element.attrib}
    assert not attributes & {"style", "class", "id", "href", "clip-path"}
    assert "url(" not in svg


def test_it_splits_a_line_into_one_polyline_per_run_of_finite_values():
    values = [1.0, 2.0, math.nan, 3.0, 4.0, 5.0, None, None, 6.0, 7.0, math.inf, 8.0]
    root = parse(chart(hours=range(12), lines=[Line("kW", values)], y_label="kW"))

    polylines = all_of(root, "polyline")
    assert [len(points(p)) for p in polylines] == [2, 3, 2]
    assert len(all_of(root, "circle")) == 1  # the lone 8.0 after the infinity


def test_it_keeps_every_drawn_point_inside_the_plot_area_beyond_the_limits():
    hours = np.arange(-60, 1500) / 60  # an hour either side of the day too
    wild = 1 + 0.2 * np.sin(hours * 3)  # 0.8 .. 1.2 pu, shown 0.9 .. 1.1
    root = parse(
        chart(
            lines=[Line("Bus 1", wild), Line("Bus 2", 2 - wild, dashed=True)],
            envelope=(wild - 5, wild + 5),
            bands=[Band(0.95, 1.05, "ANSI Range A"), Band(-9, 9, "Way out")],
            hours=hours,
            y_min=0.9,
            y_max=1.1,
            y_label="Voltage (pu)",
        )
    )

    area = plot_area(root)
    shapes = all_of(root, "polyline") + all_of(root, "polygon")
    drawn = [point for shape in shapes for point in points(shape)]
    assert len(all_of(root, "polyline")) > 20 and len(drawn) > 1000
    assert all(inside(x, y, area) for x, y in drawn)
    assert len(band_rects(root)) == 2
    for rect in band_rects(root):
        x, y = float(rect.get("x")), float(rect.get("y"))
        assert inside(x, y, area)
        assert inside(x + float(rect.get("width")), y + float(rect.get("height")), area)


def test_it_cuts_a_line_where_it_leaves_the_range_instead_of_running_along_the_edge():
    root = parse(
        chart(
            hours=range(6),
            lines=[Line("kW", [0.0, 10.0, 0.0, 10.0, 10.0, 0.0])],
            hours_in_day=5,
            y_min=0,
            y_max=5,
        )
    )

    left, top, right, bottom = plot_area(root)

    def at(hour: float, y: float) -> tuple[float, float]:
        return pytest.approx((left + hour / 5 * (right - left), y), abs=0.1)

    assert [points(p) for p in all_of(root, "polyline")] == [
        [at(0, bottom), at(0.5, top)],
        [at(1.5, top), at(2, bottom), at(2.5, top)],
        [at(4.5, top), at(5, bottom)],
    ]


def test_it_dashes_dashed_lines_in_the_plot_and_in_the_legend():
    root = parse(
        chart(
            lines=[
                Line("Measured", [1.0] * 1440),
                Line("Target", [2.0] * 1440, dashed=True),
            ]
        )
    )

    solid, dashed = all_of(root, "polyline")
    assert solid.get("stroke-dasharray") is None
    assert dashed.get("stroke-dasharray")
    assert solid.get("fill") == dashed.get("fill") == "none"
    samples = [
        s.get("stroke-dasharray")
        for s in all_of(root, "line")
        if s.get("stroke") == "#1f4e79"
    ]
    assert samples[0] is None and samples[1]


def test_it_draws_bands_behind_the_lines_across_the_plot_higher_values_higher_up():
    root = parse(
        chart(
            bands=[Band(-36, 36, "Deadband"), Band(60, 100, "High", color="#fde2e2")],
            y_min=-100,
            y_max=100,
        )
    )

    _, top, _, bottom = plot_area(root)
    deadband, high = band_rects(root)
    assert (deadband.get("fill"), high.get("fill")) == ("#dcefdc", "#fde2e2")
    assert float(high.get("y")) < float(deadband.get("y"))
    assert float(high.get("y")) == pytest.approx(top, abs=0.1)  # 100 is the top edge
    deadband_top = float(deadband.get("y"))
    deadband_bottom = deadband_top + float(deadband.get("height"))
    assert deadband_top < (top + bottom) / 2 < deadband_bottom
    assert deadband_bottom - deadband_top == pytest.approx(
        0.36 * (bottom - top), abs=0.2
    )
    children = list(root)
    first_line = children.index(all_of(root, "polyline")[0])
    assert children.index(high) < first_line


def test_it_draws_a_band_nested_in_a_wider_one_after_it_so_both_show():
    narrow, wide = Band(0.95, 1.05, "Range A"), Band(0.917, 1.058, "B", color="#fff2cc")
    root = parse(chart(bands=[narrow, wide], y_min=0.9, y_max=1.1))

    assert [r.get("fill") for r in band_rects(root)] == ["#fff2cc", "#dcefdc"]


def test_it_says_no_data_and_draws_no_line_when_nothing_is_finite():
    root = parse(
        chart(lines=[Line("kW", [math.nan] * 1440), Line("kvar", [None] * 1440)])
    )

    texts = [t.text for t in all_of(root, "text")]
    assert "No data" in texts
    assert not all_of(root, "polyline") and not all_of(root, "circle")
    assert len(x_ticks(root)) == 9  # the axes are still there
    assert y_ticks(root) == []  # but no made-up value scale
    assert y_ticks(parse(chart(lines=[Line("kW", [None] * 1440)], y_min=0))) == []
    assert "No data" not in [t.text for t in all_of(parse(chart()), "text")]


def test_it_escapes_title_axis_and_legend_text():
    label = 'A < B & "C"'
    svg = chart(
        title=label,
        y_label=label,
        lines=[Line(label, [1.0] * 1440)],
        bands=[Band(0, 1, label)],
    )
    root = parse(svg)

    assert root.get("aria-label") == label
    assert root.find(SVG + "title").text == label
    texts = [t.text for t in all_of(root, "text")]
    assert texts.count(label) == 4  # the title, two legend entries, the y axis
    assert "A < B" not in svg


def test_it_ends_the_hour_ticks_of_a_25_hour_day_one_hour_before_the_edge():
    root = parse(
        chart(
            hours=np.arange(25 * 60) / 60,
            lines=[Line("f", [0.0] * 1500)],
            hours_in_day=25,
        )
    )

    left, _, right, _ = plot_area(root)
    ticks = x_ticks(root)
    assert [label for label, _ in ticks][-2:] == ["21:00", "00:00"]
    assert ticks[0][1] == pytest.approx(left, abs=0.1)
    assert ticks[-1][1] == pytest.approx(left + 24 / 25 * (right - left), abs=0.1)


def test_it_ends_the_hour_ticks_of_a_24_hour_day_at_the_edge_and_of_23_at_21():
    full_day = x_ticks(parse(chart()))
    short_day = x_ticks(
        parse(chart(hours=range(23), lines=[Line("f", [0.0] * 23)], hours_in_day=23))
    )

    assert [label for label, _ in full_day] == [
        f"{h % 24:02d}:00" for h in range(0, 25, 3)
    ]
    assert full_day[-1][1] == pytest.approx(plot_area(parse(chart()))[2], abs=0.1)
    assert short_day[-1][0] == "21:00"


@pytest.mark.parametrize(
    ("y_min", "y_max", "labels"),
    [
        (0.9, 1.1, ["0.90", "0.95", "1.00", "1.05", "1.10"]),
        (0, 1234, ["0", "250", "500", "750", "1,000"]),
        (-120, 80, ["-100", "-50", "0", "50"]),
        (59.95, 60.05, ["59.96", "59.98", "60.00", "60.02", "60.04"]),
        (-0.3, 0.0, ["-0.3", "-0.2", "-0.1", "0.0"]),
    ],
)
def test_it_puts_four_to_six_nice_y_ticks_at_their_values(y_min, y_max, labels):
    root = parse(chart(y_min=y_min, y_max=y_max))

    ticks = y_ticks(root)
    assert [label for label, _ in ticks] == labels
    _, top, _, bottom = plot_area(root)
    for label, baseline in ticks:
        value = float(label.replace(",", ""))
        expected = bottom - (value - y_min) / (y_max - y_min) * (bottom - top)
        assert baseline - 3 == pytest.approx(expected, abs=0.15)


def test_it_pads_the_automatic_y_range_by_five_percent_of_the_data_span():
    power = 1234 * np.abs(np.sin(MINUTES / 8))
    root = parse(chart(lines=[Line("kW", power)], y_label="kW"))

    labels = [label for label, _ in y_ticks(root)]
    assert labels == ["0", "250", "500", "750", "1,000", "1,250"]
    _, top, _, bottom = plot_area(root)
    ys = [y for _, y in points(all_of(root, "polyline")[0])]
    margin = (bottom - top) * 0.05 / 1.1
    assert min(ys) == pytest.approx(top + margin, abs=0.2)
    assert max(ys) == pytest.approx(bottom - margin, abs=0.2)


def test_it_gives_a_flat_series_a_range_around_its_value():
    root = parse(chart(lines=[Line("Voltage", [1.0] * 1440)], y_label="Voltage (pu)"))

    _, top, _, bottom = plot_area(root)
    ys = [y for _, y in points(all_of(root, "polyline")[0])]
    assert ys == [pytest.approx((top + bottom) / 2, abs=0.1)] * 1440
    assert "1.00" in [label for label, _ in y_ticks(root)]


def test_it_shades_the_envelope_as_one_polygon_per_run_in_the_first_line_colour():
    low = 30 * np.sin(MINUTES / 4) - 10
    high = low + 20
    high[600:660] = np.nan
    root = parse(
        chart(lines=[Line("Δf", low + 10, color="#aa3300")], envelope=(low, high))
    )

    polygons = all_of(root, "polygon")
    assert len(polygons) == 2
    assert {p.get("fill") for p in polygons} == {"#aa3300"}
    assert all(0 < float(p.get("fill-opacity")) < 1 for p in polygons)
    assert len(points(polygons[0])) == 2 * 600


def test_it_draws_an_envelope_even_without_lines():
    root = parse(chart(lines=[], envelope=([-5.0] * 1440, [5.0] * 1440)))

    assert len(all_of(root, "polygon")) == 1
    assert "No data" not in [t.text for t in all_of(root, "text")]


def test_it_rejects_values_that_do_not_match_the_hours():
    with pytest.raises(ValueError, match="'kW' has 3 values for 1440"):
        chart(lines=[Line("kW", [1.0, 2.0, 3.0])])
    with pytest.raises(ValueError, match="y_max must be greater"):
        chart(y_min=1.0, y_max=1.0)


def test_it_renders_two_embedded_charts_to_a_pdf_with_weasyprint(caplog):
    from weasyprint import HTML

    quarters = np.arange(96) / 4
    wave = 30 * np.sin(quarters / 4)
    frequency = chart(
        hours=quarters,
        lines=[Line("Δf", wave), Line("Target", [0.0] * 96, dashed=True)],
        bands=[Band(-36, 36, "Deadband ±36 mHz")],
        envelope=(wave - 8, wave + 8),
    )
    voltage = chart(
        title="Voltage",
        hours=np.arange(100) / 4,
        lines=[Line("Bus 1", 1 + 0.03 * np.sin(np.arange(100) / 10))],
        y_label="Voltage (pu)",
        bands=[Band(0.95, 1.05, "ANSI Range A")],
        hours_in_day=25,
    )
    html = (
        f"<!doctype html><html><body><h1>Report</h1>{frequency}{voltage}</body></html>"
    )

    with caplog.at_level("WARNING", logger="weasyprint"):
        document = HTML(string=html).render()  # SVG is parsed and laid out here
    complaints = [record.getMessage() for record in caplog.records]
    pdf = document.write_pdf()

    assert complaints == []  # e.g. "Failed to load inline SVG: ..."
    assert len(document.pages) == 1
    assert pdf.startswith(b"%PDF")
