"""Suppression cannot be undone from totals: attacked from the published JSON, independently."""

from __future__ import annotations

import json
import math
import re
from datetime import date
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import viz
from pathway import load_definition
from viz.suppression import _incidence, _Round, bounded, disclosed, protect

TRD = load_definition()
AS_OF = date(2026, 6, 1)

R = ("initial_trial", "reassess", "reassess")
WALKS: list[tuple[tuple[str, str | None, str], ...]] = [
    (),
    (R,),
    (R, ("reassess", "remit", "maintenance")),
    (R, ("reassess", "exit", "exited")),
    (R, ("reassess", "switch", "switch")),
    (R, ("reassess", "switch", "switch"), ("switch", "reassess", "reassess")),
    (R, ("reassess", "review", "differential_review")),
    (R, ("reassess", "review", "differential_review"), ("differential_review", "exit", "exited")),
    (R, ("reassess", "escalate", "neurostimulation")),
    (("initial_trial", "escalate", "neurostimulation"),),
    (R, ("reassess", "remit", "maintenance"), ("maintenance", "relapse", "reassess")),
    (R, ("reassess", None, "augment")),
]
cohorts = st.lists(
    st.tuples(st.sampled_from(range(len(WALKS))), st.integers(min_value=1, max_value=14)),
    min_size=1,
    max_size=8,
)


def paths(picks: list[tuple[int, int]]) -> list[tuple[Any, ...]]:
    out = []
    for walk, n in picks:
        steps = tuple((*m, m[1] is None) for m in WALKS[walk])
        current = steps[-1][2] if steps else "initial_trial"
        out += [(current, steps, {current: 5})] * n
    return out


def rank(rows: list[list[Fraction]]) -> int:
    rows = [r[:] for r in rows if any(r)]
    r = 0
    width = len(rows[0]) if rows else 0
    for c in range(width):
        pivot = next((i for i in range(r, len(rows)) if rows[i][c]), None)
        if pivot is None:
            continue
        rows[r], rows[pivot] = rows[pivot], rows[r]
        for i in range(len(rows)):
            if i != r and rows[i][c]:
                f = rows[i][c] / rows[r][c]
                rows[i] = [a - f * b for a, b in zip(rows[i], rows[r], strict=True)]
        r += 1
    return r


def equations_of(
    published: dict[str, Any],
) -> tuple[dict[str, int | None], list[dict[str, int]]]:
    """The published cells (None: hidden) and the flow equations between them."""
    states = {n["id"] for n in published["nodes"] if n["patients"] is not None}
    cells: dict[str, int | None] = {}
    eqs: list[dict[str, int]] = []
    for n in published["nodes"]:
        if n["id"] in states:
            cells[f"now:{n['id']}"] = n["patients"]["value"]
            cells[f"entered:{n['id']}"] = n["entered"]["value"]
    edges = [e for e in published["edges"] if e["traversals"] is not None]
    for e in edges:
        cells[f"edge:{e['id']}"] = e["traversals"]["value"]
    total = re.search(r"Cohort of ([\d,]+|\*|≤\d+) patients", published["subtitle"])
    assert total is not None
    cells["total"] = int(total[1].replace(",", "")) if total[1][0].isdigit() else None
    for s in sorted(states):
        eqs.append({**{f"edge:{e['id']}": 1 for e in edges if e["dest"] == s}, f"entered:{s}": -1})
        eqs.append(
            {
                **{f"edge:{e['id']}": 1 for e in edges if e["source"] == s},
                f"now:{s}": 1,
                f"entered:{s}": -1,
            }
        )
    eqs.append({**{f"now:{s}": 1 for s in states}, "total": -1})
    eqs.append({**{f"edge:{e['id']}": 1 for e in edges if e["style"] == "start"}, "total": -1})

    return cells, eqs


def attack(published: dict[str, Any]) -> list[str]:
    """What a reader of the JSON can pin down exactly: the hidden numbers that the flow equations
    (inflow = entries = outflow + still there; states and starts add up to the total) determine.
    """
    cells, eqs = equations_of(published)
    hidden = [k for k, v in cells.items() if v is None]
    matrix = [[Fraction(eq.get(h, 0)) for h in hidden] for eq in eqs]
    full = rank(matrix)
    return [
        h for i, h in enumerate(hidden) if rank([row[:i] + row[i + 1 :] for row in matrix]) < full
    ]


def attack_by_ranges(published: dict[str, Any], threshold: int) -> list[str]:
    """The small counts a reader pins down from one equation at a time, knowing what the marks
    say: "≤threshold" is 1 to threshold, "*" more than threshold (a printed count, not a small
    one nor a zero, hidden too). E.g. entries 12 = "≤10" out + "*" out + 0 still there: 1 and 11.
    """
    cells, eqs = equations_of(published)
    shown = {f"now:{n['id']}": n["patients"] for n in published["nodes"] if n["patients"]}
    shown |= {f"entered:{n['id']}": n["entered"] for n in published["nodes"] if n["entered"]}
    shown |= {f"edge:{e['id']}": e["traversals"] for e in published["edges"] if e["traversals"]}
    total = re.search(r"Cohort of (\S+) patients", published["subtitle"])
    assert total is not None
    shown["total"] = {"display": total[1]}
    ranges = {
        k: (1.0, float(threshold))
        if shown[k]["display"].startswith("≤")
        else (threshold + 1.0, math.inf)
        for k, v in cells.items()
        if v is None
    }
    found = set()
    for eq in eqs:
        rest = -sum(c * v for k, c in eq.items() if (v := cells[k]) is not None)
        hidden = {k: c for k, c in eq.items() if cells[k] is None}
        for k, c in hidden.items():
            if ranges[k][1] == math.inf:
                continue  # only the small counts matter
            others = [(co * ranges[o][0], co * ranges[o][1]) for o, co in hidden.items() if o != k]
            least = sum(min(pair) for pair in others)
            most = sum(max(pair) for pair in others)
            a, b = sorted(((rest - most) / c, (rest - least) / c))
            if math.ceil(max(a, 1)) == math.floor(min(b, threshold)):
                found.add(k)
    return sorted(found)


def test_a_mark_does_not_give_a_small_count_away() -> None:
    """Entries 12 = a small exit ("≤10") + a resolved "*" + 0 still there: a reader who knows
    that "*" is more than 10 works out 1 and 11, so one more count is hidden."""
    values = {"exit": 1, "resolve": 11, "now": 0, "entered": 12}
    equation = {"exit": 1, "resolve": 1, "now": 1, "entered": -1}
    hidden = protect(values, [equation], threshold=10)
    assert hidden == {"exit": "primary", "resolve": "complementary", "entered": "complementary"}
    assert bounded(values, [equation], hidden, threshold=10) == []
    pinned = {"exit": "primary", "resolve": "complementary"}
    assert bounded(values, [equation], pinned, threshold=10) == ["exit"]  # as before the fix


def test_ranges_pin_through_a_chain_of_equations() -> None:
    # b + c = 23 with c = "*" ≥ 11 gives b ≤ 12; a + b = 12 with a "≤10" small and b "*" ≥ 11
    values = {"a": 1, "b": 11, "c": 12, "t1": 12, "t2": 23}
    eqs = [{"a": 1, "b": 1, "t1": -1}, {"b": 1, "c": 1, "t2": -1}]
    assert bounded(values, eqs, {"a": "primary", "b": "complementary"}, threshold=10) == ["a"]
    hidden = protect(values, eqs, threshold=10)
    assert bounded(values, eqs, hidden, threshold=10) == []
    assert disclosed(list(hidden), eqs) == []


@settings(max_examples=150, deadline=None)
@given(picks=cohorts, threshold=st.integers(min_value=1, max_value=12))
def test_no_hidden_count_can_be_worked_out(picks: list[tuple[int, int]], threshold: int) -> None:
    cohort = viz.aggregate(paths(picks), as_of=AS_OF)
    published = json.loads(str(viz.render(TRD, fmt="json", cohort=cohort, threshold=threshold)))
    assert attack(published) == []
    cells, _ = equations_of(published)
    # "≤1" is 1 whatever the rest says; with every count hidden, nothing more can be hidden
    if threshold > 1 and any(v for v in cells.values()):
        assert attack_by_ranges(published, threshold) == []
    for e in published["edges"]:
        count = e["traversals"]
        if count is None:
            continue
        if count["value"] is not None and 1 <= count["value"] <= threshold:
            raise AssertionError(f"{e['id']} printed a small count {count['value']}")
        if e["conversion"] is not None:  # a percentage would reveal a hidden count or entries
            assert count["value"] is not None
            source = next(n for n in published["nodes"] if n["id"] == e["source"])
            assert source["entered"]["value"] is not None
        if count["value"] is None:
            assert e["width"] == 1.0  # nor may the width


@settings(max_examples=50, deadline=None)
@given(picks=cohorts)
def test_no_suppression_when_asked(picks: list[tuple[int, int]]) -> None:
    cohort = viz.aggregate(paths(picks), as_of=AS_OF)
    published = json.loads(str(viz.render(TRD, fmt="json", cohort=cohort, suppress=False)))
    values = [n["patients"] for n in published["nodes"] if n["patients"] is not None]
    values += [e["traversals"] for e in published["edges"] if e["traversals"] is not None]
    assert all(v["value"] is not None for v in values)


def test_one_hidden_cell_in_a_group_takes_the_next_smallest_with_it() -> None:
    values = {"a": 4, "b": 25, "c": 60, "total": 89}
    hidden = protect(values, [{"a": 1, "b": 1, "c": 1, "total": -1}], threshold=10)
    assert hidden == {"a": "primary", "b": "complementary"}


def test_a_total_that_would_give_a_cell_away_is_hidden() -> None:
    # a + b = total and b alone is also a printed total: hiding a forces hiding one more
    values = {"a": 3, "b": 40, "total": 43}
    eqs = [{"a": 1, "b": 1, "total": -1}]
    assert protect(values, eqs, threshold=10) == {"a": "primary", "b": "complementary"}
    assert protect(values, [*eqs, {"b": 1}], threshold=10) == {
        "a": "primary",
        "total": "complementary",
    }


def test_two_small_cells_in_a_group_protect_each_other() -> None:
    values = {"a": 3, "b": 7, "c": 60, "total": 70}
    assert protect(values, [{"a": 1, "b": 1, "c": 1, "total": -1}], threshold=10) == {
        "a": "primary",
        "b": "primary",
    }


def test_the_attack_catches_primary_suppression_alone(monkeypatch: Any) -> None:
    """Without complementary cells, one small exit count is backed out from the others."""

    def primary_only(
        values: dict[Any, int], equations: object, *, threshold: int, rank: object = None
    ) -> Any:
        return {k: "primary" for k, v in values.items() if 1 <= v <= threshold}

    monkeypatch.setattr("viz.cohort_overlay.protect", primary_only)
    cohort = viz.aggregate(paths([(1, 40), (2, 30), (3, 4)]), as_of=AS_OF)
    published = json.loads(str(viz.render(TRD, fmt="json", cohort=cohort)))
    assert "edge:reassess--exit->exited" in attack(published)


@settings(max_examples=300, deadline=None)
@given(
    matrix=st.integers(min_value=1, max_value=6).flatmap(
        lambda width: st.lists(
            st.lists(st.integers(min_value=-3, max_value=3), min_size=width, max_size=width),
            min_size=0,
            max_size=7,
        )
    )
)
def test_disclosed_agrees_with_rational_rank(matrix: list[list[int]]) -> None:
    """A cell is pinned down exactly when dropping its column lowers the rank (over rationals)."""
    width = len(matrix[0]) if matrix else 1
    cells = [f"c{j}" for j in range(width)]
    equations = [{cells[j]: c for j, c in enumerate(row) if c} for row in matrix]
    rational = [[Fraction(c) for c in row] for row in matrix]
    full = rank(rational)
    expected = [
        c for j, c in enumerate(cells) if rank([r[:j] + r[j + 1 :] for r in rational]) < full
    ]
    assert disclosed(cells, equations) == expected


@settings(max_examples=300, deadline=None)
@given(
    matrix=st.integers(min_value=2, max_value=7).flatmap(
        lambda width: st.lists(
            st.lists(st.integers(min_value=-3, max_value=3), min_size=width, max_size=width),
            min_size=1,
            max_size=7,
        )
    ),
    data=st.data(),
)
def test_one_reduction_a_round_counts_what_each_candidate_would_disclose(
    matrix: list[list[int]], data: st.DataObject
) -> None:
    """What the greedy step reads for each candidate equals a fresh check with it hidden."""
    width = len(matrix[0])
    cells = [f"c{j}" for j in range(width)]
    equations = [{cells[j]: c for j, c in enumerate(row) if c} for row in matrix]
    hidden = data.draw(st.lists(st.sampled_from(cells), min_size=1, unique=True))
    columns = _incidence(equations)
    now = _Round(hidden, columns, len(equations))
    for k in cells:
        if k not in hidden:
            fresh = len(disclosed([*hidden, k], equations))
            assert now.disclosed_with(columns.get(k, [])) == fresh
