"""Cohort aggregation and the cohort overlay: counts, conversion, medians, widths, suppression."""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Callable
from datetime import date

import pytest

import viz
from pathway import Definition
from viz import CohortSummary, OverlayMismatch, PatientPath
from viz.cohort import as_tuple
from viz.cohort_overlay import MAX_WIDTH

AS_OF = date(2026, 6, 1)
Make = Callable[..., PatientPath]


def random_paths(trd: Definition, make_path: Make, n: int, seed: int) -> list[PatientPath]:
    """Random walks over the declared edges (some overrides), with random days per state."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        state, moves, days = trd.initial_state, [], {}
        for _ in range(rng.randint(0, 8)):
            days[state] = days.get(state, 0) + rng.randint(0, 90)
            options = [(src, t.trigger, t.dest) for src, t in trd.edges if src == state]
            if not options:
                break
            if rng.random() < 0.05:
                move: tuple[str, ...] = (state, None, "maintenance", "REASON")
            else:
                move = rng.choice(options)
            moves.append(move)
            state = move[2]
        days[state] = days.get(state, 0) + rng.randint(0, 90)
        out.append(make_path(moves, patient_id=f"P{i}", days=days))
    return out


def brute_force(paths: list[PatientPath]) -> dict[str, object]:
    """The same numbers, counted the slow, obvious way."""
    traversals: Counter[tuple[str, str, str]] = Counter()
    for p in paths:
        for s in p.steps:
            traversals[(s.source, s.trigger or "override", s.dest)] += 1
    per_state: dict[str, list[int]] = {}
    for p in paths:
        for state, d in p.days.items():
            per_state.setdefault(state, []).append(d)
    return {
        "patients": Counter(p.current for p in paths),
        "starts": Counter(p.start for p in paths),
        "traversals": traversals,
        "median_days": {s: statistics.median(v) for s, v in per_state.items()},
        "visited": {s: len(v) for s, v in per_state.items()},
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_aggregate_matches_a_brute_force_count(trd: Definition, make_path: Make, seed: int) -> None:
    paths = random_paths(trd, make_path, 300, seed)
    expected = brute_force(paths)
    for given in (paths, [as_tuple(p) for p in paths]):
        got = viz.aggregate(given, as_of=AS_OF)
        assert got.patients == expected["patients"]
        assert got.starts == expected["starts"]
        assert got.traversals == expected["traversals"]
        assert got.median_days == expected["median_days"]
        assert got.visited == expected["visited"]
        assert got.overrides == {k: n for k, n in got.traversals.items() if k[1] == "override"}


def test_days_may_be_pairs_or_a_mapping() -> None:
    rows = [("a", (), {"a": 3}), ("a", (), (("a", 5),)), ("a", (), [("a", 4)])]
    assert viz.aggregate(rows, as_of=AS_OF).median_days == {"a": 4}


def test_summary_round_trips_through_json() -> None:
    summary = viz.aggregate(
        [("b", (("a", "go", "b"),), {"a": 1, "b": 2})] * 3, as_of=AS_OF, filters="all"
    )
    assert CohortSummary.model_validate_json(summary.model_dump_json()) == summary


def overlay(
    trd: Definition, paths: list[PatientPath], *, suppress: bool = True, threshold: int = 10
) -> viz.Diagram:
    summary = viz.aggregate(paths, as_of=AS_OF)
    return viz.build(trd, cohort=summary, suppress=suppress, threshold=threshold)


def test_overlay_numbers_match_the_summary_unsuppressed(trd: Definition, make_path: Make) -> None:
    paths = random_paths(trd, make_path, 400, 7)
    summary = viz.aggregate(paths, as_of=AS_OF)
    d = viz.build(trd, cohort=summary, suppress=False)
    for state in trd.states:
        node = d.node(state.id)
        assert node.patients is not None
        assert node.patients.value == summary.patients.get(state.id, 0)
    for src, t in trd.edges:
        key = (src, t.trigger, t.dest)
        if t.source == "*" and not summary.traversals.get(key):
            continue  # a `*` edge nobody took is only drawn compactly
        edge = d.edge(f"{src}--{t.trigger}->{t.dest}")
        assert edge.traversals is not None
        assert edge.traversals.value == summary.traversals.get(key, 0)
    assert "Cohort of 400 patients" in d.subtitle


def test_conversion_is_the_share_of_entries_that_left_by_the_edge(
    trd: Definition, make_path: Make
) -> None:
    stay = make_path([("initial_trial", "reassess", "reassess")])
    remit = make_path(
        [("initial_trial", "reassess", "reassess"), ("reassess", "remit", "maintenance")]
    )
    d = overlay(trd, [stay] * 30 + [remit] * 70, suppress=False)
    edge = d.edge("reassess--remit->maintenance")
    assert edge.traversals is not None and edge.traversals.value == 70
    assert edge.conversion is not None and edge.conversion.display == "70%"
    assert d.node("reassess").entered == viz.Cell(value=100, display="100")


def test_width_grows_with_count(trd: Definition, make_path: Make) -> None:
    d = overlay(trd, random_paths(trd, make_path, 500, 11), suppress=False)
    counted = sorted(
        (e.traversals.value, e.width)
        for e in d.edges
        if e.traversals is not None and e.traversals.value and e.style != "start"
    )
    widths = [w for _, w in counted]
    assert widths == sorted(widths)
    assert widths[0] >= 1.0
    assert widths[-1] == MAX_WIDTH


def test_median_days_are_shown_over_more_than_threshold_patients(
    trd: Definition, make_path: Make
) -> None:
    many = make_path([], days={"initial_trial": 30})
    few = make_path(
        [("initial_trial", "reassess", "reassess"), ("reassess", "switch", "switch")],
        days={"initial_trial": 40, "reassess": 2, "switch": 9},
    )
    d = overlay(trd, [many] * 20 + [few] * 3)
    assert d.node("initial_trial").median_days == viz.Cell(value=30, display="30 d")
    assert d.node("switch").median_days == viz.Cell(value=None, display="")
    shown = overlay(trd, [many] * 20 + [few] * 3, suppress=False).node("switch").median_days
    assert shown == viz.Cell(value=9, display="9 d")


def test_the_legend_says_what_the_medians_are_over(trd: Definition, make_path: Make) -> None:
    summary = viz.aggregate([make_path([], days={"initial_trial": 30})] * 20, as_of=AS_OF)
    windowed = summary.model_copy(update={"median_over": "stays_ended"})
    per_patient, per_stay = (viz.build(trd, cohort=s).notes for s in (summary, windowed))
    assert (
        "median: days in the state per patient, all visits added up (the current one to "
        f"{AS_OF.isoformat()})"
    ) in per_patient
    assert per_patient[0].startswith(f"now: patients in the state at the end of {AS_OF}")
    assert "entered: patients in it when the window opened" in per_stay[0]
    assert "from the start point: enrollments" in per_patient[1]
    assert "arrows: moves in the window" in per_stay[1]
    assert "a median is shown only over more than 10 patients" in per_patient
    assert (
        "median: days of the stays in the state that ended in the window (entry to exit)"
        in per_stay
    )
    assert "a median is shown only over more than 10 stays" in per_stay
    assert not set(per_patient) & {n for n in per_stay if n.startswith(("median", "a median"))}
    assert CohortSummary.model_validate_json(windowed.model_dump_json()) == windowed


def test_small_counts_are_hidden_by_default(trd: Definition, make_path: Make) -> None:
    stay = make_path([("initial_trial", "reassess", "reassess")])
    exit_ = make_path([("initial_trial", "reassess", "reassess"), ("reassess", "exit", "exited")])
    remit = make_path(
        [("initial_trial", "reassess", "reassess"), ("reassess", "remit", "maintenance")]
    )
    paths = [stay] * 40 + [exit_] * 4 + [remit] * 25
    d = overlay(trd, paths)
    assert d.edge("reassess--exit->exited").traversals == viz.Cell(value=None, display="≤10")
    assert d.node("exited").patients == viz.Cell(value=None, display="≤10")
    assert d.edge("reassess--exit->exited").conversion is None
    assert d.edge("reassess--exit->exited").width == 1.0
    text = str(viz.render_diagram(d, fmt="dot"))
    assert "≤10" in text and "\\n4\\n" not in text

    shown = overlay(trd, paths, suppress=False)
    assert shown.edge("reassess--exit->exited").traversals == viz.Cell(value=4, display="4")

    lower = overlay(trd, paths, threshold=3)
    assert lower.edge("reassess--exit->exited").traversals == viz.Cell(value=4, display="4")


def test_summary_naming_unknown_states_or_edges_is_refused(trd: Definition) -> None:
    bad = CohortSummary(
        as_of=AS_OF, patients={"limbo": 3}, traversals={("reassess", "teleport", "switch"): 2}
    )
    with pytest.raises(OverlayMismatch) as err:
        viz.build(trd, cohort=bad)
    assert "state 'limbo' is not declared" in str(err.value)
    assert "reassess --teleport--> switch is neither a declared transition" in str(err.value)


def test_one_overlay_at_a_time(trd: Definition, make_path: Make) -> None:
    path = make_path([])
    with pytest.raises(ValueError, match="one overlay at a time"):
        viz.build(trd, patient=path, cohort=viz.aggregate([path], as_of=AS_OF))
