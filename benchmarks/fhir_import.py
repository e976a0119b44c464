"""Benchmark: `pathway fhir import` against `fhir.resources.R4B` parsing the same resources.

Run: .venv/bin/python benchmarks/fhir_import.py [--n N] [--runs R]   (issue 12 asks N = 10000)

Generates N records (benchmarks/assess.py: 3 trials, 6 PHQ-9 scores, a screen, a lab, a risk
assessment), exports them to FHIR R4 as one NDJSON file (14 resources per patient), then
times in one process (a) the floor: `json.loads` + `R4B model_validate` of every line (with the
garbage collector running, and paused as the import pauses it), and
(b) the whole import into a fresh SQLite database: read, validate with R4B, group by patient,
map, validate the records, enroll through the engine's bulk path. Best of R runs; goal (b) ≤ 2×
(a).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from assess import make_record  # noqa: E402

from engine.fhir.export import record_resources  # noqa: E402
from pathway.record import parse_record  # noqa: E402


def write_ndjson(n: int, folder: Path) -> tuple[Path, int]:
    """N patients' resources as NDJSON; returns the file and the resource count."""
    rng = random.Random(12)
    path = folder / "patients.ndjson"
    count = 0
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            rec = parse_record(make_record(i, rng))
            for r in record_resources(rec):
                fh.write(json.dumps(r) + "\n")
                count += 1
    return path, count


def floor(path: Path, *, paused: bool) -> float:
    """R4B alone: parse and validate every resource of the file (GC running or paused)."""
    from fhir.resources.R4B import get_fhir_model_class

    if paused:
        gc.disable()
    started = time.perf_counter()
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            data: dict[str, Any] = json.loads(line)
            get_fhir_model_class(data["resourceType"]).model_validate(data)
    seconds = time.perf_counter() - started
    gc.enable()
    return seconds


def full(path: Path, folder: Path, run: int) -> tuple[float, int]:
    """The whole import into a fresh SQLite database; returns seconds and patients imported."""
    from engine.fhir.importing import import_fhir
    from engine.fhir.reading import read_paths
    from engine.services import Services
    from engine.store.db import init_db, make_engine

    url = f"sqlite:///{folder / f'bench-{run}.db'}"
    engine = make_engine(url)
    init_db(engine)
    engine.dispose()
    svc = Services.from_url(url)
    started = time.perf_counter()
    report = import_fhir(read_paths([str(path)]), svc=svc, actor="bench")
    seconds = time.perf_counter() - started
    svc.close()
    assert not report.refused, report.refused[:3]
    return seconds, len(report.imported)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="patients (issue: 10000)")
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    from fhir.resources.R4B import get_fhir_model_class

    get_fhir_model_class("Patient")  # import costs outside the timings
    import engine.fhir.importing
    import engine.services  # noqa: F401

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path, resources = write_ndjson(args.n, folder)
        f_gc = min(floor(path, paused=False) for _ in range(args.runs))
        f_best = min(floor(path, paused=True) for _ in range(args.runs))
        runs = [full(path, folder, k) for k in range(args.runs)]
        i_best = min(s for s, _ in runs)
    print(f"patients {args.n}, resources {resources} ({resources / args.n:.1f} per patient)")
    print(f"floor  R4B, GC running      : {f_gc:8.3f} s  {f_gc / resources * 1e6:7.1f} µs/resource")
    print(
        f"floor  R4B, GC paused       : {f_best:8.3f} s  "
        f"{f_best / resources * 1e6:7.1f} µs/resource"
    )
    print(
        f"import (validate, map, enroll): {i_best:8.3f} s  {i_best / args.n * 1e3:7.2f} ms/patient"
    )
    print(f"ratio import / floor (paused): {i_best / f_best:8.2f}  (goal ≤ 2; the stricter floor)")
    print(f"ratio import / floor (GC on) : {i_best / f_gc:8.2f}")


if __name__ == "__main__":
    main()
