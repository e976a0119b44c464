"""Benchmark: the cohort overlay for 100k synthetic patients against plain `dot` on the same DOT.

Run: .venv/bin/python benchmarks/render.py [--patients N] [--runs R] [--seed S] [--out DIR]

Each run times, in this process, (a) aggregating the paths and rendering the cohort overlay to
SVG with `viz`, and (b) plain `dot -Tsvg` on the DOT text that (a) produced (the floor). It prints
the medians and their ratio (goal: at most 1.5×), with a breakdown of (a).
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import viz  # noqa: E402
from pathway import Definition, load_definition  # noqa: E402
from viz.build import build  # noqa: E402
from viz.cohort import PathTuple, StepTuple  # noqa: E402
from viz.dot import to_dot  # noqa: E402

AS_OF = date(2026, 6, 1)

# Plausible next moves per state, by trigger, with weights; "stay" ends the walk there (the
# patient's current state). Invented for load, not clinical estimates.
MOVES: dict[str, dict[str, float]] = {
    "initial_trial": {"reassess": 85, "escalate": 1, "stay": 14},
    "reassess": {"remit": 25, "complete": 10, "review": 12, "augment": 18, "switch": 20,
                 "refer_neurostimulation": 5, "start_rapid_acting": 4, "exit": 1,
                 "escalate": 2, "stay": 3},
    "complete_trial": {"reassess": 85, "escalate": 1, "stay": 14},
    "differential_review": {"resolve": 78, "exit": 8, "escalate": 1, "stay": 13},
    "augment": {"reassess": 80, "escalate": 1, "stay": 19},
    "switch": {"reassess": 80, "escalate": 1, "stay": 19},
    "rapid_acting": {"reassess": 75, "escalate": 1, "stay": 24},
    "neurostimulation": {"reassess": 75, "stay": 25},
    "maintenance": {"relapse": 15, "escalate": 0.5, "stay": 84.5},
    "exited": {"stay": 1},
}  # fmt: skip
DAYS = {"treatment": (28, 84), "decision": (0, 14), "evaluation": (7, 60),
        "procedure": (21, 56), "continuing": (30, 365), "final": (0, 200)}  # fmt: skip
OVERRIDE_RATE = 0.004  # an override jumps straight to maintenance, naming no trigger
MAX_STEPS = 14


def synthetic_paths(definition: Definition, n: int, *, seed: int = 20260601) -> list[PathTuple]:
    """`n` random walks over the definition's graph, as `viz.cohort` bulk tuples."""
    rng = random.Random(seed)
    kinds = {s.id: s.kind for s in definition.states}
    dest = {(src, t.trigger): t.dest for src, t in definition.edges}
    # one shared tuple per distinct move, as a loader would intern them
    moves: dict[str, tuple[list[StepTuple | None], list[float]]] = {
        state: ([(state, t, dest[state, t], False) if t != "stay" else None for t in w],
                list(w.values()))
        for state, w in MOVES.items()
    }  # fmt: skip
    overrides = {s: (s, None, "maintenance", True) for s in MOVES}
    paths: list[PathTuple] = []
    for _ in range(n):
        state = definition.initial_state
        steps: list[StepTuple] = []
        days: dict[str, int] = {}
        for _ in range(MAX_STEPS):
            lo, hi = DAYS[kinds[state]]
            days[state] = days.get(state, 0) + rng.randint(lo, hi)
            options, weights = moves[state]
            step = rng.choices(options, weights)[0]
            if step is None:
                break
            if state != "maintenance" and rng.random() < OVERRIDE_RATE:
                step = overrides[state]
            steps.append(step)
            state = step[2]
        paths.append((state, tuple(steps), tuple(days.items())))
    return paths


def run_dot(source: bytes) -> float:
    t = time.perf_counter()
    subprocess.run(["dot", "-Tsvg"], input=source, capture_output=True, check=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--seed", type=int, default=20260601)
    ap.add_argument("--out", type=Path, help="also write the SVG and DOT here")
    args = ap.parse_args()

    definition = load_definition(ROOT / "definitions" / "trd.yaml")
    t = time.perf_counter()
    paths = synthetic_paths(definition, args.patients, seed=args.seed)
    steps = sum(len(p[1]) for p in paths)
    print(f"generated {len(paths):,} paths ({steps:,} moves) in {time.perf_counter() - t:.2f} s")
    gc.freeze()  # the paths are long-lived; keep the collector off them as a service would

    viz.render(definition, fmt="svg")  # warm up: imports, the definition's cached properties
    ours, agg, model, floor = [], [], [], []
    svg, dot_text = b"", ""
    for _ in range(args.runs):
        t0 = time.perf_counter()
        cohort = viz.aggregate(paths, as_of=AS_OF, filters="synthetic cohort")
        t1 = time.perf_counter()
        diagram = build(definition, cohort=cohort)
        t2 = time.perf_counter()
        svg = viz.render_diagram(diagram, fmt="svg")  # type: ignore[assignment]
        t3 = time.perf_counter()
        ours.append(t3 - t0)
        agg.append(t1 - t0)
        model.append(t2 - t1)
        dot_text = to_dot(diagram)
        floor.append(run_dot(dot_text.encode()))

    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "cohort.svg").write_bytes(svg)
        (args.out / "cohort.dot").write_text(dot_text, encoding="utf-8")

    med = statistics.median
    ms = 1000
    print(f"patients: {args.patients:,}; runs: {args.runs} (medians)")
    print(f"  aggregate                 {med(agg) * ms:8.1f} ms")
    print(f"  diagram model (overlay)   {med(model) * ms:8.1f} ms")
    print(f"viz: aggregate + render svg {med(ours) * ms:8.1f} ms")
    print(f"floor: dot -Tsvg same DOT   {med(floor) * ms:8.1f} ms")
    print(f"ratio                       {med(ours) / med(floor):8.2f}x  (goal <= 1.5x)")
    render = [o - a - m for o, a, m in zip(ours, agg, model, strict=True)]
    print(
        f"  of which render svg       {med(render) * ms:8.1f} ms "
        f"({med(render) / med(floor):.2f}x the floor: DOT text + running dot)"
    )


if __name__ == "__main__":
    main()
