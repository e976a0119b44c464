"""Lay a cohort summary on the diagram: patients, entries, moves, conversion, median days.

Every printed count is a cell of the flow equations below, so `viz.suppression.protect` can check
that no hidden count can be worked out from the printed ones:

- per state, entries = moves in + paths starting there = moves out + patients still there;
- the states' patients add up to the cohort size, and so do the paths' starts.

A conversion ("% of the entries into a state that left by this edge") is printed only when both
the edge's count and the state's entries are printed (it would otherwise reveal one of them).
"""

from __future__ import annotations

from collections.abc import Hashable
from math import sqrt

from pathway.definition import Definition
from viz.cohort import starts_by_balance
from viz.errors import OverlayMismatch
from viz.graph import START, taken_from
from viz.model import Cell, Diagram, Edge, edge_id
from viz.overlays import OVERRIDE, CohortSummary, EdgeKey
from viz.suppression import Equation, protect

CellKey = tuple[Hashable, ...]
MAX_WIDTH = 6.0


def overlay_cohort(
    base: Diagram,
    definition: Definition,
    cohort: CohortSummary,
    *,
    threshold: int = 10,
) -> Diagram:
    """The diagram with the cohort's numbers; counts 1..`threshold` hidden (0: hide nothing)."""
    states = [s.id for s in definition.states]
    starts = dict(cohort.starts) or starts_by_balance(cohort.patients, cohort.traversals)
    edges = _edges(base, definition, cohort, starts)
    # every edge but the compact `*` ones (which stand for many edges) carries a count
    counted = [e for e in edges if e.source == START or e.source in definition.state_by_id]
    moves = {
        e.id: starts.get(e.dest, 0)
        if e.style == "start"
        else cohort.traversals.get((e.source, e.trigger, e.dest), 0)
        for e in counted
    }
    into = dict.fromkeys(states, 0)
    out = dict.fromkeys(states, 0)
    for e in counted:
        into[e.dest] += moves[e.id]
        if e.source != START:
            out[e.source] += moves[e.id]

    cells: dict[CellKey, int] = {("total",): cohort.total}
    cells.update({("now", s): cohort.patients.get(s, 0) for s in states})
    cells.update({("entered", s): max(into[s], out[s] + cohort.patients.get(s, 0)) for s in states})
    cells.update({("edge", e.id): moves[e.id] for e in counted})
    # readers need the patients per state most: hide edge counts first, then entries, then states
    rank: dict[object, int] = {"edge": 0, "entered": 1, "now": 2, "total": 3}
    hidden = protect(
        cells, _equations(states, counted), threshold=threshold, rank=lambda k: rank[k[0]]
    )

    def cell(key: CellKey) -> Cell:
        why = hidden.get(key)
        if why == "primary":
            return Cell(value=None, display=f"≤{threshold}")
        if why == "complementary":
            return Cell(value=None, display="*")
        return Cell(value=cells[key], display=f"{cells[key]:,}")

    widest = max(
        (
            n
            for e in counted
            if e.style != "start" and (n := moves[e.id]) and ("edge", e.id) not in hidden
        ),
        default=0,
    )

    def with_counts(e: Edge) -> Edge:
        if e.id not in moves:
            return e
        count = cell(("edge", e.id))
        conversion, width = None, 1.0
        if count.value and e.style != "start":
            entered = cell(("entered", e.source))
            if entered.value:
                pct = 100 * count.value / entered.value
                conversion = Cell(
                    value=round(pct, 1), display="<1%" if pct < 0.5 else f"{pct:.0f}%"
                )
            width = round(1 + (MAX_WIDTH - 1) * sqrt(count.value / widest), 2)
        return e.model_copy(update={"traversals": count, "conversion": conversion, "width": width})

    total = cell(("total",))
    filters = f" · {cohort.filters}" if cohort.filters else ""
    return base.model_copy(
        update={
            "overlay": "cohort",
            "as_of": cohort.as_of,
            "subtitle": f"Cohort of {total.display} patients{filters} · as of {cohort.as_of}",
            "nodes": [
                n.model_copy(
                    update={
                        "patients": cell(("now", n.id)),
                        "entered": cell(("entered", n.id)),
                        "median_days": _median(cohort, n.id, threshold),
                    }
                )
                if n.id in definition.state_by_id
                else n
                for n in base.nodes
            ],
            "edges": [with_counts(e) for e in edges],
            "notes": _notes(threshold, cohort.median_over, cohort.as_of.isoformat()),
        }
    )


def _edges(
    base: Diagram, definition: Definition, cohort: CohortSummary, starts: dict[str, int]
) -> list[Edge]:
    """The base edges, plus: `*` edges actually taken, from their real source; undeclared moves
    (overrides); entries into states other than the initial one."""
    declared = {(src, t.trigger, t.dest) for src, t in definition.edges}
    problems = [
        f"state '{s}' is not declared"
        for s in sorted(
            {
                *cohort.patients,
                *starts,
                *(x for k in cohort.traversals for x in (k[0], k[2])),
            }
            - set(definition.state_by_id)
        )
    ]
    problems += [
        f"{k[0]} --{k[1]}--> {k[2]} is neither a declared transition nor an override"
        for k in cohort.traversals
        if k not in declared and k[1] != OVERRIDE and k not in cohort.overrides
    ]
    if problems:
        raise OverlayMismatch("cohort summary", problems)

    out: list[Edge] = []
    for e in base.edges:
        out.append(e)
        if e.style == "start":
            out += [
                Edge(
                    id=edge_id(START, "start", s),
                    source=START,
                    dest=s,
                    trigger="start",
                    style="start",
                )
                for s, n in sorted(starts.items())
                if n and s != e.dest
            ]
        if e.style == "any":
            out += [
                taken_from(e, s)
                for s in e.sources
                if cohort.traversals.get((s, e.trigger, e.dest), 0)
            ]
    undeclared: list[EdgeKey] = sorted(k for k in cohort.traversals if k not in declared)
    out += [
        Edge(id=edge_id(*k, override=True), source=k[0], dest=k[2], trigger=k[1], style="override")
        for k in undeclared
        if cohort.traversals[k]
    ]
    return out


def _equations(states: list[str], counted: list[Edge]) -> list[Equation[CellKey]]:
    """Flow balance per state, and the cohort total twice (current states, starts)."""
    eqs: list[Equation[CellKey]] = []
    for s in states:
        inflow: dict[CellKey, int] = {("edge", e.id): 1 for e in counted if e.dest == s}
        outflow: dict[CellKey, int] = {("edge", e.id): 1 for e in counted if e.source == s}
        eqs.append({**inflow, ("entered", s): -1})
        eqs.append({**outflow, ("now", s): 1, ("entered", s): -1})
    eqs.append({**{("now", s): 1 for s in states}, ("total",): -1})
    eqs.append({**{("edge", e.id): 1 for e in counted if e.style == "start"}, ("total",): -1})
    return eqs


def _median(cohort: CohortSummary, state: str, threshold: int) -> Cell | None:
    if state not in cohort.median_days:
        return None
    days = cohort.median_days[state]
    if threshold and cohort.visited.get(state, 0) <= threshold:
        return Cell(value=None, display="")
    return Cell(value=days, display=f"{days:g} d")


def _notes(threshold: int, median_over: str, end: str) -> list[str]:
    """The legend: what each number is, counted up to which day, over which window."""
    per_patient = median_over == "patients"  # "stays_ended": counted over a --since window
    notes = [
        f"now: patients in the state at the end of {end}; "
        + (
            "entered: entries into it (a return counts again)"
            if per_patient
            else "entered: patients in it when the window opened, plus entries into it in the "
            "window (a return counts again)"
        ),
        ("arrows: moves" if per_patient else "arrows: moves in the window")
        + ", and the % of entries into the source state that left by them; width grows with "
        "the count; from the start point: "
        + (
            "enrollments"
            if per_patient
            else "patients in the state when the window opened, or enrolled into it in the window"
        ),
        f"median: days in the state per patient, all visits added up (the current one to {end})"
        if per_patient
        else "median: days of the stays in the state that ended in the window (entry to exit)",
    ]
    if threshold:
        notes += [
            f"≤{threshold}: between 1 and {threshold}, hidden; *: hidden too, so that no hidden "
            "count can be worked out from the others",
            f"a median is shown only over more than {threshold} "
            + ("patients" if per_patient else "stays"),
        ]
    return notes
