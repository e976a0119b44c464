"""Benchmark: `import pathway` against `import pydantic`, in fresh processes, in one run.

Run: .venv/bin/python benchmarks/import_pathway.py [--runs R]

Times R cold starts of each command, interleaved (so machine load hits them alike), and prints
the medians. Goal: `import pathway` ≤ 3× `import pydantic`. Also printed, not a goal: the first
use (`import pathway` + loading the shipped definition), which builds the models `import
pathway` defers.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "import pydantic": "import pydantic",
    "import pathway": "import pathway",
    "import pathway + load_definition()": "import pathway; pathway.load_definition()",
}


def _once(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10, help="cold starts of each (default 10)")
    args = ap.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for code in COMMANDS.values():  # warm the bytecode caches
        _once(code)
    for _ in range(args.runs):
        for name, code in COMMANDS.items():
            times[name].append(_once(code))
    median = {name: statistics.median(t) for name, t in times.items()}
    base = median["import pydantic"]
    for name, m in median.items():
        print(f"  {name:<36} {m * 1000:7.1f} ms  ({m / base:.2f}× import pydantic)")
    ratio = median["import pathway"] / base
    verdict = "ok" if ratio <= 3 else "MISSED"
    print(f"import pathway / import pydantic: {ratio:.2f}× (goal ≤ 3×) {verdict}")


if __name__ == "__main__":
    main()
