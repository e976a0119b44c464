"""Benchmark: every patient's enabled transitions, against transitions' many-models pattern.

Run: .venv/bin/python benchmarks/cohort.py [--n N] [--stories S]

N patients (default 5,000; the issue's size is --n 30000) in the states and with the facts of a
simulated cohort enrolled over five years (every story distinct unless `--stories S` reuses S
of them, with fresh facts per patient). In one
process it times (a) the engine's way: `guard_results(definition, facts, state)` per patient,
keeping each patient's enabled triggers, against transitions with the same guard callables as
conditions and `may_<trigger>()` for each trigger from the patient's state, in three ways: the
fair floors (b) one `Machine` and one reused model moved with `set_state`, (c) `add_model` and
`remove_model` per patient on one `Machine`; and (d) the many-models pattern, `add_model` per
patient with every model kept (quadratic in transitions: a flattering floor, shown beside).
Then tracemalloc measures the memory each way keeps per patient. Goals: (a) ≥ 20× faster than
the faster of (b) and (c), and ≤ 2 KB extra memory per patient.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from transitions import Machine  # noqa: E402

from engine.simulator import SimParams, simulate_cohort  # noqa: E402
from pathway import Definition, Facts, derive, guard_results, load_definition  # noqa: E402
from pathway.guards import evaluate  # noqa: E402

Patient = tuple[str, Facts]


def cohort(defn: Definition, n: int, stories: int) -> list[Patient]:
    """(state, facts) for n patients, each with facts of its own (nothing memoized across)."""
    import datetime as dt

    end = dt.date(2026, 6, 1)
    sims = list(
        simulate_cohort(
            SimParams(patients=stories, seed=1, end=end, enroll_days=5 * 365),
            definition=defn,
            validate=False,
        )
    )
    p, cat = defn.parameters, defn.catalog
    return [
        (s.state, derive(s.record, as_of=end, params=p, catalog=cat))
        for s in (sims[i % stories] for i in range(n))
    ]


def engine_way(
    defn: Definition, patients: list[Patient], *, keep_reasons: bool = False
) -> list[list[str]]:
    """The engine: evaluate the guards out of each patient's state, keep the enabled triggers
    (and, with `keep_reasons`, every guard result with its reasons, memoized on the facts)."""
    out = []
    for state, facts in patients:
        out.append([g.trigger for g in guard_results(defn, facts, state) if g.result == "true"])
        if not keep_reasons:
            facts.memo.clear()
    return out


class Model:
    """A transitions model per patient: its facts (the machine adds state and may_* methods)."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts


def condition(guard: Any) -> Callable[[Any], bool]:
    """The same guard, as a transitions condition on the model's facts."""
    return lambda event: evaluate(guard, event.model.facts)[0] == "true"


def machine_for(defn: Definition) -> Any:
    m = Machine(
        model=None,
        states=[s.id for s in defn.states],
        initial=defn.initial_state,
        auto_transitions=False,
        send_event=True,
    )
    for src, t in defn.edges:
        m.add_transition(t.trigger, src, t.dest, conditions=[condition(t.guard)])
    return m


def transitions_way(defn: Definition, patients: list[Patient]) -> tuple[Any, list[list[str]]]:
    """One Machine, add_model per patient, may_<trigger> for each trigger from its state."""
    m = machine_for(defn)
    triggers = {s.id: defn.triggers_from(s.id) for s in defn.states}
    out = []
    for state, facts in patients:
        model = Model(facts)
        m.add_model(model, initial=state)
        out.append([t for t in triggers[state] if getattr(model, f"may_{t}")()])
        facts.memo.clear()  # as the engine way: only the decision is kept
    return m, out


def set_state_way(defn: Definition, patients: list[Patient]) -> tuple[Any, list[list[str]]]:
    """A fair floor: one Machine and one reused model, moved with `set_state` per patient."""
    m = machine_for(defn)
    triggers = {s.id: defn.triggers_from(s.id) for s in defn.states}
    model = Model(patients[0][1])
    m.add_model(model, initial=defn.initial_state)
    out = []
    for state, facts in patients:
        model.facts = facts
        m.set_state(state, model=model)
        out.append([t for t in triggers[state] if getattr(model, f"may_{t}")()])
        facts.memo.clear()
    return m, out


def add_remove_way(defn: Definition, patients: list[Patient]) -> tuple[Any, list[list[str]]]:
    """A fair floor: `add_model`, may_*, `remove_model` per patient (the machine stays empty)."""
    m = machine_for(defn)
    triggers = {s.id: defn.triggers_from(s.id) for s in defn.states}
    out = []
    for state, facts in patients:
        model = Model(facts)
        m.add_model(model, initial=state)
        try:
            out.append([t for t in triggers[state] if getattr(model, f"may_{t}")()])
        finally:
            m.remove_model(model)
        facts.memo.clear()
    return m, out


def fresh(patients: list[Patient]) -> None:
    for _, f in patients:
        f.memo.clear()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def retained(fn: Callable[[], Any]) -> int:
    """Bytes still allocated after fn ran, while its result is kept (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = fn()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    return after - before


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5_000, help="patients (issue: 30000)")
    ap.add_argument("--stories", type=int, help="distinct simulated stories (default: all)")
    ap.add_argument("--runs", type=int, default=3, help="best of R runs (default 3)")
    args = ap.parse_args()
    defn = load_definition()
    distinct = min(args.stories or args.n, args.n)
    patients = cohort(defn, args.n, distinct)
    states = len({s for s, _ in patients})
    print(f"{args.n} patients in {states} states ({distinct} simulated stories)")
    ways = {
        "set_state": lambda: set_state_way(defn, patients)[1],
        "add+remove": lambda: add_remove_way(defn, patients)[1],
        "add_model, kept": lambda: transitions_way(defn, patients)[1],
    }
    a = float("inf")
    floors = dict.fromkeys(ways, float("inf"))
    for _ in range(args.runs):  # best of R, interleaved: the machine is shared, runs are noisy
        fresh(patients)
        t, ours = timed(lambda: engine_way(defn, patients))
        a = min(a, t)
        for name, way in ways.items():
            fresh(patients)
            t, theirs = timed(way)
            floors[name] = min(floors[name], t)
            assert list(map(sorted, ours)) == list(map(sorted, theirs)), name
    n = args.n
    print(f"  engine (guard_results)                    {a:7.3f} s  {a / n * 1e6:7.1f} µs/patient")
    labels = {
        "set_state": "one reused model, set_state",
        "add+remove": "add_model + remove_model",
        "add_model, kept": "add_model, models kept",
    }
    for name, b in floors.items():
        fair = "" if name != "add_model, kept" else "  (quadratic: flattering)"
        print(
            f"  transitions, {labels[name]:<29}{b:7.3f} s  {b / n * 1e6:7.1f} µs/patient"
            f"  → engine {b / a:5.1f}× faster{fair}"
        )
    fair_floor = min(floors["set_state"], floors["add+remove"])
    print(f"  speed-up against the fastest fair floor {fair_floor / a:5.1f}× (goal ≥ 20×)")
    fresh(patients)
    mem_ours = retained(lambda: engine_way(defn, patients)) / n
    fresh(patients)
    mem_reasons = retained(lambda: engine_way(defn, patients, keep_reasons=True)) / n
    fresh(patients)
    mem_theirs = retained(lambda: transitions_way(defn, patients)) / n
    print(
        f"  extra memory per patient: engine {mem_ours:,.0f} B (goal ≤ 2 KB); transitions "
        f"{mem_theirs:,.0f} B; engine keeping every guard's reasons {mem_reasons:,.0f} B"
    )


if __name__ == "__main__":
    main()
