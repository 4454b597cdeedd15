"""Inline SVG line charts (monitors.charts): accessible, compact, honest about gaps."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

from hypothesis import given
from hypothesis import strategies as st

from heliograph.monitors.charts import Sample, line_chart, spoken, summary

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
DAY = (NOW - timedelta(hours=24), NOW)
SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ElementTree.Element:
    """The chart as XML (inline SVG needs no namespace in HTML; XML does)."""
    return ElementTree.fromstring(svg.replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1))


def every_minute(value: float = 4.0, hours: float = 24) -> list[tuple[datetime, float]]:
    return [(NOW - timedelta(minutes=m), value) for m in range(int(hours * 60))]


def absolute(d: str) -> list[list[tuple[int, int]]]:
    """The path's lines as absolute points (it uses only M, relative l and h)."""
    lines: list[list[tuple[int, int]]] = []
    for command, args in re.findall(r"([Mlh])([^Mlh]*)", d):
        numbers = [int(n) for n in re.findall(r"-?\d+", args)]
        if command == "M":
            lines.append([(numbers[0], numbers[1])])
        elif command == "h":
            x, y = lines[-1][-1]
            lines[-1].append((x + numbers[0], y))
        else:
            for dx, dy in zip(numbers[::2], numbers[1::2], strict=True):
                x, y = lines[-1][-1]
                lines[-1].append((x + dx, y + dy))
    return lines


def path_of(svg: str) -> str:
    paths = parse(svg).findall(f".//{SVG}path")
    assert len(paths) == 1
    return paths[0].attrib["d"]


def test_it_summarises_the_chart_for_people_who_cannot_see_it() -> None:
    points = every_minute(4.0)
    points[30] = (points[30][0], 540.0)  # one 9-minute delivery
    svg = line_chart(points, 600, 64, "s", [120.0], "Inbound delivery time", DAY)
    root = parse(svg)
    said = "Inbound delivery time, last 24 h: median 4 s, max 9 min"
    assert root.attrib["role"] == "img"
    assert root.attrib["aria-label"] == said
    assert root.find(f"{SVG}title").text == said  # type: ignore[union-attr]


def test_it_draws_one_path_in_whole_numbers_and_no_element_per_point() -> None:
    points = [(at, v + (n * 7919) % 50 / 10) for n, (at, v) in enumerate(every_minute())]
    svg = line_chart(points, 600, 64, "s", None, "Delivery", DAY)
    d = path_of(svg)
    assert re.fullmatch(r"M\d+ \d+(l\d+ ?-?\d+( \d+ ?-?\d+)*|h\d+)+", d)
    (line,) = absolute(d)
    assert len(line) == 150  # one point per 4 units of width
    assert [x for x, _ in line] == [2 + 4 * n for n in range(150)]
    assert len(parse(svg).findall(f".//{SVG}circle")) == 0
    assert len(svg) < 2_000


def test_it_draws_a_calm_stretch_as_one_flat_step() -> None:
    d = path_of(line_chart(every_minute(4.0), 600, 64, "s", None, "Delivery", DAY))
    assert d == "M2 4h596"


def test_it_leaves_colours_to_the_page_when_asked() -> None:
    svg = line_chart(every_minute(), 192, 48, "s", [1.0], "Delivery", DAY, styled=False)
    assert "stroke=" not in svg and "<title>" not in svg and 'aria-label="Delivery' in svg
    assert len(svg) < 450


def test_it_breaks_the_line_where_there_is_no_data() -> None:
    points = [p for p in every_minute() if not 300 <= (NOW - p[0]).total_seconds() / 60 < 420]
    d = path_of(line_chart(points, 600, 64, "s", None, "Delivery", DAY))
    assert d.count("M") == 2
    before, after = absolute(d)
    assert before[-1][0] <= 600 * 17 / 24 + 4 and after[0][0] >= 600 * 19 / 24 - 4  # 7 to 5 h ago


def test_it_draws_a_lone_sample_as_a_dot() -> None:
    d = path_of(line_chart([(NOW - timedelta(hours=3), 5.0)], 600, 64, "s", None, "x", DAY))
    assert re.fullmatch(r"M\d+ \d+h0", d)


def test_it_draws_thresholds_dashed_when_the_data_reaches_them() -> None:
    calm = line_chart(every_minute(4.0), 600, 64, "s", [120.0], "Delivery", DAY)
    assert "<line" not in calm  # a threshold far above the data would flatten the line
    points = every_minute(4.0)
    points[10] = (points[10][0], 300.0)
    stormy = parse(line_chart(points, 600, 64, "s", [120.0], "Delivery", DAY))
    (line,) = stormy.findall(f".//{SVG}line")
    assert line.attrib["stroke-dasharray"]
    assert len(stormy.findall(f".//{SVG}path")) == 1


def test_it_labels_the_top_and_bottom_of_the_scale() -> None:
    points = every_minute(4.0)
    points[10] = (points[10][0], 540.0)
    chart = parse(line_chart(points, 600, 64, "s", None, "x", DAY))
    texts = [t.text for t in chart.iter(f"{SVG}text")]
    assert texts == ["9 min", "0 s"]


def test_it_says_no_data_when_there_is_none() -> None:
    svg = line_chart([], 600, 64, "s", [120.0], "Inbound delivery time", DAY)
    root = parse(svg)
    assert root.attrib["aria-label"] == "Inbound delivery time, last 24 h: no data"
    assert root.findall(f".//{SVG}path") == []
    assert "No data" in svg


def test_it_escapes_the_label() -> None:
    svg = line_chart(every_minute(), 600, 64, "ms", None, 'a "<b>" & c', DAY)
    assert "<b>" not in svg
    assert parse(svg).attrib["aria-label"].startswith('a "<b>" & c, last 24 h')


def test_it_uses_the_highest_value_of_stored_buckets_for_the_max() -> None:
    points = [Sample(NOW - timedelta(minutes=5 * n), 4.0, 2.0, 30.0) for n in range(200)]
    assert summary("x", points, "s", timedelta(hours=24)) == "x, last 24 h: median 4 s, max 30 s"


def test_it_speaks_values_as_people_read_them() -> None:
    assert spoken(4, "s") == "4 s"
    assert spoken(4.25, "s") == "4.2 s"
    assert spoken(540, "s") == "9 min"
    assert spoken(5400, "s") == "1.5 h"
    assert spoken(120, "ms") == "120 ms"
    assert spoken(1250, "ms") == "1.2 s"
    assert spoken(12, "days") == "12 days"
    assert spoken(0.35, "") == "0.35"


@given(
    st.lists(
        st.tuples(
            st.integers(0, 24 * 3600), st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)
        ),
        max_size=300,
    )
)
def test_it_always_draws_a_small_well_formed_chart(raw: list[tuple[int, float]]) -> None:
    points = [(NOW - timedelta(seconds=s), v) for s, v in raw]
    svg = line_chart(points, 600, 64, "ms", [1000.0], "Latency", DAY)
    root = parse(svg)
    assert root.attrib["role"] == "img"
    assert len(root.findall(f".//{SVG}path")) == (1 if points else 0)
    assert len(svg) < 4_000
    for d in [p.attrib["d"] for p in root.iter(f"{SVG}path")]:
        for line in absolute(d):
            assert all(0 <= x <= 600 and 0 <= y <= 64 for x, y in line)
            assert [x for x, _ in line] == sorted(x for x, _ in line)
