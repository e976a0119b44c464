"""Benchmark: start-up time of `import pathway` and of `pathway --help`, against their floors.

Run: .venv/bin/python benchmarks/startup.py [--n N] [--check]

Times, in one run, N cold processes (default 15) of each of:
  (a) python -c "import pydantic"       the floor of (b)
  (b) python -c "import pathway"        goal: ≤ 3× (a)
  (c) python -c "import typer, rich"    the floor of (d)
  (d) pathway --help                    goal: ≤ 2× (c) (the console script of this checkout)
  (e) python -c "import pathway; pathway.load_definition()"   the first use, not a goal: it
      builds the models `import pathway` defers and loads the shipped definition
The five run round-robin (a b c d, a b c d, …), so a busy neighbour slows them alike; each figure
is the median of its N, the best beside it. Each process is a fresh interpreter with this
repository first on its path; nothing is cached between them but the operating system's file
cache and the bytecode cache (the first round warms both and is not counted: Python writes
`__pycache__` then, as an installed package has it, even when $PYTHONDONTWRITEBYTECODE is
set). Prints both ratios against their goals; `--check` exits 1 when a goal fails (without it,
the script always exits 0).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PATHWAY = str(Path(PYTHON).with_name("pathway"))

COMMANDS: dict[str, list[str]] = {
    "import pydantic": [PYTHON, "-c", "import pydantic"],
    "import pathway": [PYTHON, "-c", "import pathway"],
    "import typer, rich": [PYTHON, "-c", "import typer, rich"],
    "pathway --help": [PATHWAY, "--help"],
    "first use": [PYTHON, "-c", "import pathway; pathway.load_definition()"],
}
# (measured, floor, goal): measured ≤ goal × floor
GOALS = (
    ("import pathway", "import pydantic", 3.0),
    ("pathway --help", "import typer, rich", 2.0),
)


def once(command: list[str]) -> float:
    """Seconds one cold process takes, start to exit (it must succeed)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT)
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def measure(n: int) -> dict[str, list[float]]:
    """N timings of every command, round-robin, after one uncounted warm-up round."""
    for command in COMMANDS.values():
        once(command)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(n):
        for name, command in COMMANDS.items():
            times[name].append(once(command))
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=15, help="cold processes per command")
    ap.add_argument("--check", action="store_true", help="exit 1 when a goal fails")
    args = ap.parse_args()
    times = measure(args.n)
    median = {name: statistics.median(ts) for name, ts in times.items()}
    print(f"cold start-up, {args.n} processes each (round-robin), median (best):")
    for name, ts in times.items():
        print(f"  {name:<20} {median[name] * 1000:7.1f} ms  ({min(ts) * 1000:.1f} ms)")
    failed = False
    for measured, floor, goal in GOALS:
        ratio = median[measured] / median[floor]
        holds = ratio <= goal
        failed |= not holds
        verdict = "holds" if holds else "FAILS"
        print(f"  {measured} / {floor}: {ratio:.2f}× (goal ≤ {goal:g}×: {verdict})")
    return 1 if failed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
