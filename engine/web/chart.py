"""A patient's score trend as inline SVG, drawn on the server: deterministic, printable, no script.

`chart_data(facts, catalog)` picks what to draw from a patient's derived facts (the instrument
the current step is judged by, its trial and procedure periods, the remission and 50%-response
thresholds); `trend_svg(data)` draws it. The same data always gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal
from xml.sax.saxutils import escape

from pathway.catalog import Catalog
from pathway.facts import Facts
from pathway.trials import baseline, trial_rules

PeriodKind = Literal["trial", "augmentation", "procedure"]

# Geometry of the drawing (user units; the SVG scales to its container through viewBox).
WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 48, 32, 40, 44
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
# Colours chosen for contrast on white paper and screen (WCAG AA against #fff for text).
_INK, _GRID, _LINE = "#1f2933", "#d9dee3", "#1d4ed8"
_BAND = {"trial": "#dbeafe", "augmentation": "#ede9fe", "procedure": "#fef3c7"}
_REMISSION, _RESPONSE = "#047857", "#b45309"


@dataclass(frozen=True, slots=True)
class Point:
    """One score on one day."""

    on: dt.date
    score: int


@dataclass(frozen=True, slots=True)
class Period:
    """A trial or procedure course, drawn as a band from start to end (or to the chart's end)."""

    start: dt.date
    end: dt.date | None
    label: str
    kind: PeriodKind


@dataclass(frozen=True, slots=True)
class ChartData:
    """Everything the chart shows; `trend_svg` draws nothing else."""

    instrument: str | None
    points: tuple[Point, ...]
    periods: tuple[Period, ...]
    as_of: dt.date
    y_max: int
    remission_max: int | None = None  # remission: a score at or below this
    response_at: float | None = None  # 50% response: a score at or below this (from baseline)
    baseline: int | None = None


def chart_data(facts: Facts, catalog: Catalog) -> ChartData:
    """What to draw for a patient: the current step's instrument (else the first one scored, in
    the definition's `instrument_preference`), its thresholds, every trial and procedure period."""
    step = facts.current_step
    basis = step.outcome_basis if step is not None else None
    instrument: str | None = None
    if basis is not None:
        instrument = str(basis["instrument"])
    else:
        preference = facts.params.instrument_preference.value
        instrument = next((i for i in preference if facts.scores.get(i)), None)
    series = facts.scores.get(instrument, []) if instrument else []
    points = tuple(Point(dt.date.fromordinal(o), s) for o, s in series)
    known = catalog.instrument_by_name.get(instrument) if instrument else None
    y_max = known.range[1] if known is not None else max((p.score for p in points), default=27)
    base: int | None = None
    if basis is not None:
        base = int(basis["baseline"])
    elif step is not None and series:
        i = baseline(series, step.start.toordinal(), trial_rules(facts.params))
        base = series[i][1] if i is not None else None
    params = facts.params
    remission = params.remission_max.value.get(instrument) if instrument else None  # type: ignore[call-overload]
    response = base * (1 - params.response_reduction.value) if base else None
    periods = [
        Period(t.start, t.end, t.drug, "augmentation" if t.role == "augmentation" else "trial")
        for t in facts.trials
    ] + [Period(p.start, p.end, p.kind, "procedure") for p in facts.procedures]
    periods.sort(key=lambda p: (p.start, p.kind, p.label))
    return ChartData(
        instrument=instrument,
        points=points,
        periods=tuple(periods),
        as_of=facts.as_of,
        y_max=max(1, y_max),
        remission_max=remission,
        response_at=response,
        baseline=base,
    )


def _num(v: float) -> str:
    """A coordinate with one decimal, no trailing zero: stable text for diffs."""
    s = f"{v:.1f}"
    return s[:-2] if s.endswith(".0") else s


def date_range(data: ChartData) -> tuple[dt.date, dt.date]:
    """The x axis: from the first point or period start to the last point or the as-of date
    (at least two weeks wide so one point sits in the middle of a readable axis)."""
    days = [p.on for p in data.points] + [p.start for p in data.periods]
    first = min(days, default=data.as_of)
    last = max([data.as_of, *(p.on for p in data.points)])
    if (last - first).days < 14:
        pad = (14 - (last - first).days + 1) // 2
        first, last = first - dt.timedelta(days=pad), last + dt.timedelta(days=pad)
    return first, last


def x_of(day: dt.date, first: dt.date, last: dt.date) -> float:
    """The x coordinate of a day, clamped to the plot area."""
    span = max(1, (last - first).days)
    frac = min(1.0, max(0.0, (day - first).days / span))
    return LEFT + frac * PLOT_W


def y_of(score: float, y_max: int) -> float:
    """The y coordinate of a score, clamped to the plot area (0 at the bottom)."""
    frac = min(1.0, max(0.0, score / y_max))
    return TOP + PLOT_H - frac * PLOT_H


def _ticks(y_max: int) -> list[int]:
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 1000) if y_max / s <= 6)
    return list(range(0, y_max + 1, step))


def _month_ticks(first: dt.date, last: dt.date) -> list[dt.date]:
    months = (last.year - first.year) * 12 + last.month - first.month
    every = max(1, -(-months // 8))  # at most ~8 labels
    out, y, m = [], first.year, first.month
    while True:
        m += 1
        if m > 12:
            y, m = y + 1, 1
        if (y - first.year) * 12 + m - first.month > months:
            break
        if ((y - first.year) * 12 + m - first.month) % every == 0:
            out.append(dt.date(y, m, 1))
    if not out:
        out = [first, last]
    return out


def trend_svg(data: ChartData, *, title_id: str = "trend") -> str:
    """The chart as an SVG element (no XML prolog, for inline use), with a <title> and <desc>
    that say what it shows in words for screen readers."""
    first, last = date_range(data)
    inst = data.instrument or "score"
    parts: list[str] = []
    add = parts.append
    desc = _describe(data)
    add(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-labelledby="{title_id}-title {title_id}-desc">'
    )
    add(f'<title id="{title_id}-title">{escape(inst)} over time</title>')
    add(f'<desc id="{title_id}-desc">{escape(desc)}</desc>')
    add(f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>')
    # trial and procedure periods as bands, one lane label each
    for n, p in enumerate(data.periods):
        x0 = x_of(p.start, first, last)
        x1 = x_of(p.end or last, first, last)
        w = max(1.0, x1 - x0)
        end = p.end.isoformat() if p.end else "ongoing"
        add(
            f'<g class="band band-{p.kind}"><title>{escape(p.label)} ({p.kind}): '
            f"{p.start.isoformat()} to {end}</title>"
            f'<rect x="{_num(x0)}" y="{TOP}" width="{_num(w)}" height="{PLOT_H}" '
            f'fill="{_BAND[p.kind]}" fill-opacity="0.8"/>'
            f'<text x="{_num(x0 + 3)}" y="{TOP - 6 - 12 * (n % 2)}" font-size="11" '
            f'fill="{_INK}">{escape(p.label)}</text></g>'
        )
    # grid and axes
    for t in _ticks(data.y_max):
        ty = _num(y_of(t, data.y_max))
        add(
            f'<line class="grid" x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{ty}" y2="{ty}" '
            f'stroke="{_GRID}" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{ty}" font-size="11" text-anchor="end" '
            f'dominant-baseline="middle" fill="{_INK}">{t}</text>'
        )
    for d in _month_ticks(first, last):
        add(
            f'<text x="{_num(x_of(d, first, last))}" y="{TOP + PLOT_H + 16}" font-size="11" '
            f'text-anchor="middle" '
            f'fill="{_INK}">{d.strftime("%b %Y")}</text>'
        )
    add(
        f'<path class="axes" d="M{LEFT} {TOP}V{TOP + PLOT_H}H{LEFT + PLOT_W}" fill="none" '
        f'stroke="{_INK}" stroke-width="1"/>'
    )
    add(
        f'<text x="{LEFT}" y="{HEIGHT - 8}" font-size="11" fill="{_INK}">{escape(inst)} score; '
        f"{first.isoformat()} to {last.isoformat()}</text>"
    )
    # thresholds; the remission label goes under its line when the two lines are close
    close = (
        data.remission_max is not None
        and data.response_at is not None
        and abs(y_of(data.remission_max, data.y_max) - y_of(data.response_at, data.y_max)) < 14
    )
    if data.remission_max is not None:
        label = f"remission ≤ {data.remission_max}"
        add(_threshold("remission", data.remission_max, data.y_max, _REMISSION, label, close))
    if data.response_at is not None:
        label = f"50% response ≤ {_num(data.response_at)}"
        add(_threshold("response", data.response_at, data.y_max, _RESPONSE, label, False))
    # the scores
    xy = [(x_of(pt.on, first, last), y_of(pt.score, data.y_max), pt) for pt in data.points]
    if len(xy) > 1:
        path = "M" + "L".join(f"{_num(x)} {_num(y)}" for x, y, _ in xy)
        add(f'<path class="series" d="{path}" fill="none" stroke="{_LINE}" stroke-width="2"/>')
    for x, y, pt in xy:
        add(
            f'<circle class="point" cx="{_num(x)}" cy="{_num(y)}" r="4" fill="{_LINE}" '
            f'data-date="{pt.on.isoformat()}" data-score="{pt.score}">'
            f"<title>{pt.on.isoformat()}: {escape(inst)} {pt.score}</title></circle>"
        )
    if not xy:
        add(
            f'<text x="{LEFT + PLOT_W / 2:.0f}" y="{TOP + PLOT_H / 2:.0f}" font-size="14" '
            f'text-anchor="middle" fill="{_INK}">no scores recorded yet</text>'
        )
    add("</svg>")
    return "".join(parts)


def _threshold(kind: str, score: float, y_max: int, colour: str, label: str, below: bool) -> str:
    y = _num(y_of(score, y_max))
    dy = "12" if below else "-4"
    return (
        f'<g class="threshold threshold-{kind}"><line x1="{LEFT}" x2="{LEFT + PLOT_W}" '
        f'y1="{y}" y2="{y}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="6 4"/>'
        f'<text x="{LEFT + PLOT_W - 4}" y="{y}" dy="{dy}" font-size="11" text-anchor="end" '
        f'fill="{colour}">{escape(label)}</text></g>'
    )


def _describe(data: ChartData) -> str:
    inst = data.instrument or "scores"
    if not data.points:
        return f"No {inst} scores recorded yet."
    first, last = data.points[0], data.points[-1]
    text = (
        f"{len(data.points)} {inst} scores from {first.on.isoformat()} ({first.score}) "
        f"to {last.on.isoformat()} ({last.score})."
    )
    if data.baseline is not None:
        text += f" Baseline of the current step {data.baseline}."
    if data.remission_max is not None:
        text += f" Remission at {data.remission_max} or below."
    return text
