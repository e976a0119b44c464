"""The server-drawn trend chart: deterministic SVG, bands, thresholds, points inside the plot."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from engine.web.chart import (
    HEIGHT,
    LEFT,
    PLOT_H,
    PLOT_W,
    TOP,
    WIDTH,
    ChartData,
    Period,
    Point,
    chart_data,
    date_range,
    trend_svg,
    x_of,
    y_of,
)
from pathway import Definition, derive
from pathway.record import parse_record

SVG = "{http://www.w3.org/2000/svg}"
D = dt.date


def _data(points: list[tuple[str, int]], **kw: object) -> ChartData:
    base: dict[str, object] = {
        "instrument": "PHQ-9",
        "points": tuple(Point(D.fromisoformat(d), s) for d, s in points),
        "periods": (),
        "as_of": D(2026, 6, 1),
        "y_max": 27,
    }
    base.update(kw)
    return ChartData(**base)  # type: ignore[arg-type]


def _points(svg: str) -> list[tuple[float, float, str, int]]:
    root = ET.fromstring(svg)
    return [
        (
            float(c.get("cx", "")),
            float(c.get("cy", "")),
            c.get("data-date", ""),
            int(c.get("data-score", "")),
        )
        for c in root.iter(f"{SVG}circle")
    ]


def test_same_data_same_bytes() -> None:
    data = _data([("2026-02-01", 18), ("2026-03-01", 12), ("2026-04-01", 4)], remission_max=4)
    assert trend_svg(data) == trend_svg(data)
    ET.fromstring(trend_svg(data))  # well-formed


def test_bands_and_threshold_lines_are_drawn() -> None:
    data = _data(
        [("2026-02-01", 20), ("2026-04-01", 9)],
        periods=(
            Period(D(2026, 1, 20), D(2026, 3, 1), "sertraline", "trial"),
            Period(D(2026, 3, 10), None, "rTMS", "procedure"),
        ),
        remission_max=4,
        response_at=10.0,
        baseline=20,
    )
    svg = trend_svg(data)
    root = ET.fromstring(svg)
    groups = {g.get("class") for g in root.iter(f"{SVG}g")}
    assert {"band band-trial", "band band-procedure"} <= groups
    assert {"threshold threshold-remission", "threshold threshold-response"} <= groups
    assert "remission ≤ 4" in svg and "50% response ≤ 10" in svg
    first, last = date_range(data)
    remission = next(g for g in root.iter(f"{SVG}g") if g.get("class", "").endswith("remission"))
    line = remission.find(f"{SVG}line")
    assert line is not None and float(line.get("y1", "")) == round(y_of(4, 27), 1)
    # the ongoing procedure runs to the end of the axis
    band = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "band band-procedure")
    rect = band.find(f"{SVG}rect")
    assert rect is not None
    x0, w = float(rect.get("x", "")), float(rect.get("width", ""))
    assert abs(x0 + w - x_of(last, first, last)) < 0.2


def test_scores_sit_at_their_coordinates() -> None:
    data = _data([("2026-01-01", 27), ("2026-06-01", 0)])
    (x0, y0, d0, s0), (x1, y1, d1, s1) = _points(trend_svg(data))
    assert (d0, s0, d1, s1) == ("2026-01-01", 27, "2026-06-01", 0)
    assert (x0, y0) == (LEFT, TOP)  # first day, top of the scale
    assert (x1, y1) == (LEFT + PLOT_W, TOP + PLOT_H)  # last day, zero


def test_empty_and_single_point() -> None:
    empty = trend_svg(_data([]))
    assert "no scores recorded yet" in empty and _points(empty) == []
    one = trend_svg(_data([("2026-06-01", 11)]))
    [(x, _y, _, score)] = _points(one)
    assert score == 11 and LEFT < x < LEFT + PLOT_W  # padded axis: the point is not on an edge
    assert 'class="series"' not in one  # no line through a single point


def test_no_inline_style_or_script() -> None:
    svg = trend_svg(_data([("2026-02-01", 18)], remission_max=4))
    assert "style=" not in svg and "<script" not in svg
    assert re.search(r'role="img"', svg)


days = st.dates(min_value=D(2020, 1, 1), max_value=D(2026, 6, 1))


@given(
    st.lists(st.tuples(days, st.integers(0, 27)), max_size=30),
    st.lists(st.tuples(days, st.one_of(st.none(), days)), max_size=4),
)
def test_every_point_and_band_inside_the_plot(
    scores: list[tuple[dt.date, int]], spans: list[tuple[dt.date, dt.date | None]]
) -> None:
    points = tuple(Point(d, s) for d, s in sorted(scores))
    periods = tuple(
        Period(a, b if b is None or b >= a else a, f"drug {i}", "trial")
        for i, (a, b) in enumerate(spans)
    )
    data = ChartData("PHQ-9", points, periods, D(2026, 6, 1), 27, 4, None, None)
    svg = trend_svg(data)
    root = ET.fromstring(svg)
    assert root.get("viewBox") == f"0 0 {WIDTH} {HEIGHT}"
    circles = _points(svg)
    assert len(circles) == len(points)
    for x, y, _, _ in circles:
        assert LEFT <= x <= LEFT + PLOT_W
        assert TOP <= y <= TOP + PLOT_H
    for g in root.iter(f"{SVG}g"):
        if g.get("class", "").startswith("band"):
            rect = g.find(f"{SVG}rect")
            assert rect is not None
            x, w = float(rect.get("x", "")), float(rect.get("width", ""))
            assert x >= LEFT and x + w <= LEFT + PLOT_W + 1.01


def test_chart_data_from_a_record(trd: Definition) -> None:
    record = parse_record(
        {
            "id": "P-1",
            "trials": [
                {
                    "drug": "sertraline",
                    "start": "2026-01-05",
                    "doses": [{"from": "2026-01-05", "mg_per_day": 150}],
                    "adherence": 0.9,
                }
            ],
            "measurements": [
                {"date": "2026-01-03", "instrument": "PHQ-9", "score": 20},
                {"date": "2026-03-01", "instrument": "PHQ-9", "score": 14},
            ],
            "procedures": [{"kind": "rTMS", "start": "2026-04-01", "sessions": 3}],
        },
        catalog=trd.catalog,
    )
    facts = derive(record, as_of=D(2026, 6, 1), params=trd.parameters, catalog=trd.catalog)
    data = chart_data(facts, trd.catalog)
    assert data.instrument == "PHQ-9" and data.y_max == 27
    assert [p.score for p in data.points] == [20, 14]
    assert [p.kind for p in data.periods] == ["trial", "procedure"]
    assert data.remission_max == 4
    assert data.baseline is None or data.response_at == data.baseline * 0.5
