"""Benchmark: `pathway.assess` against validating a plain pydantic model of the same shape.

Run: .venv/bin/python benchmarks/assess.py [--n N] [--runs R] [--profile]

Generates N valid records (3 trials, 6 scores, a screen, a lab, a risk assessment; about 1.3 KB
of JSON each), then times in one process (a) `assess(raw_record)`, which validates and
evaluates, and (b) the floor: `model_validate` of a plain pydantic model of the same shape as
`PatientRecord` (same fields, types and defaults, without our validators; `plain_copy`) on the
same records; beside it, `PatientRecord.model_validate` (our own validator: a flattering floor).
All keep their results alive and are timed twice, with the cyclic garbage collector running
and with it paused, so GC is treated the same way in each. Best of R runs. Goal: (a) ≤ 3× (b).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import random
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydantic import BaseModel, ConfigDict, Field, create_model  # noqa: E402

from pathway import PatientRecord, assess, load_definition  # noqa: E402

AS_OF = dt.date(2026, 6, 1)
DRUGS = [
    ("sertraline", 50, 200),
    ("escitalopram", 10, 20),
    ("venlafaxine", 150, 225),
    ("bupropion", 300, 450),
    ("mirtazapine", 15, 45),
    ("duloxetine", 60, 120),
]


def make_record(i: int, rng: random.Random) -> dict[str, Any]:
    """One valid record: three antidepressant trials in sequence, six PHQ-9 scores."""
    start = AS_OF - dt.timedelta(days=rng.randint(200, 400))
    trials, scores = [], []
    day = start
    for k, (drug, lo, hi) in enumerate(rng.sample(DRUGS, 3)):
        raise_on = day + dt.timedelta(days=rng.randint(7, 21))
        end = None if k == 2 else raise_on + dt.timedelta(days=rng.randint(20, 70))
        trials.append(
            {
                "drug": drug,
                "role": "antidepressant",
                "start": day.isoformat(),
                "end": end.isoformat() if end else None,
                "doses": [
                    {"from": day.isoformat(), "mg_per_day": lo / 2},
                    {"from": raise_on.isoformat(), "mg_per_day": rng.choice((lo, hi))},
                ],
                "adherence": round(rng.uniform(0.6, 1.0), 2),
                "stop_reason": rng.choice(("no_response", "partial_response")) if end else None,
            }
        )
        scores += [
            (day, rng.randint(14, 24)),
            ((end or AS_OF) - dt.timedelta(days=1), rng.randint(3, 20)),
        ]
        day = (end or AS_OF) + dt.timedelta(days=1)
    return {
        "id": f"B-{i:07d}",
        "sex": rng.choice(("female", "male")),
        "birth_year": 1950 + i % 50,
        "episode_start": (start - dt.timedelta(days=60)).isoformat(),
        "severity": "moderate",
        "trials": trials,
        "measurements": [
            {"date": d.isoformat(), "instrument": "PHQ-9", "score": s} for d, s in scores
        ],
        "screens": [
            {"date": start.isoformat(), "instrument": "AUDIT-C", "score": rng.randint(0, 5)}
        ],
        "labs": [
            {
                "date": start.isoformat(),
                "test": "TSH",
                "value": round(rng.uniform(0.5, 6), 1),
                "unit": "mIU/L",
            }
        ],
        "risk": {"date": start.isoformat(), "suicidality": rng.choice(("none", "passive"))},
    }


def plain_copy(model: type[BaseModel], made: dict[type, Any] | None = None) -> type[BaseModel]:
    """A plain pydantic model of the same shape: the same fields, types and defaults, nested
    models copied the same way, without our validators (no field or model validators, no
    custom date parsing, no callable discriminator: pydantic's own union matching)."""
    made = {} if made is None else made
    if model in made:
        return made[model]  # type: ignore[no-any-return]

    def plain(tp: Any) -> Any:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return plain_copy(tp, made)
        origin, args = get_origin(tp), get_args(tp)
        if origin is Annotated:
            return plain(args[0])
        if origin is Literal or not args:
            return tp
        if origin in (Union, types.UnionType):
            return Union[tuple(plain(a) for a in args)]  # noqa: UP007
        return origin[tuple(plain(a) for a in args)]

    fields: dict[str, Any] = {}
    for name, f in model.model_fields.items():
        default = Field(f.default, default_factory=f.default_factory, alias=f.alias)
        fields[name] = (plain(f.annotation), default)
    config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    made[model] = create_model(f"Plain{model.__name__}", __config__=config, **fields)
    return made[model]  # type: ignore[no-any-return]


def timed(fn: Callable[[Any], Any], items: list[Any], *, collect: bool) -> float:
    """Seconds to apply fn to every item, keeping the results alive (as a caller would)."""
    gc.collect()
    if not collect:
        gc.disable()
    try:
        kept = []
        t0 = time.perf_counter()
        for x in items:
            kept.append(fn(x))
        seconds = time.perf_counter() - t0
    finally:
        gc.enable()
    del kept
    return seconds


def breakdown(records: list[dict[str, Any]], defn: Any) -> None:
    """Where assess spends its time, stage by stage (GC paused, as the floor above)."""
    from pathway import derive
    from pathway.assess import build
    from pathway.record import parse_record

    def stage(fn: Callable[[Any], Any], items: list[Any]) -> tuple[float, list[Any]]:
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            out = [fn(x) for x in items]
            return (time.perf_counter() - t0) / len(items) * 1e6, out
        finally:
            gc.enable()

    cat, params = defn.catalog, defn.parameters
    parse, parsed = stage(lambda r: parse_record(r, catalog=cat), records)
    facts, derived = stage(lambda r: derive(r, as_of=AS_OF, params=params, catalog=cat), parsed)
    rest, _ = stage(lambda f: build("x", f, defn), derived)
    total = parse + facts + rest
    print(
        f"  where assess's time goes (µs per record): validate {parse:.1f} "
        f"({parse / total:.0%}), derive facts {facts:.1f} ({facts / total:.0%}), guards + "
        f"recommendation + output {rest:.1f} ({rest / total:.0%})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000, help="records (default 20,000)")
    ap.add_argument("--runs", type=int, default=2, help="best of R runs (default 2)")
    ap.add_argument("--profile", action="store_true", help="cProfile assess and print the top")
    args = ap.parse_args()
    defn = load_definition()
    rng = random.Random(20261126)
    records = [make_record(i, rng) for i in range(args.n)]
    size = sum(len(json.dumps(r)) for r in records[:1000]) / min(1000, args.n)
    for r in records[:100]:  # every generated record is valid
        PatientRecord.model_validate(r)
    catalog = {"catalog": defn.catalog}
    plain = plain_copy(PatientRecord)
    for r in records[:100]:
        plain.model_validate(r)

    def ours(r: dict[str, Any]) -> PatientRecord:
        return PatientRecord.model_validate(r, context=catalog)

    def floor(r: dict[str, Any]) -> BaseModel:
        return plain.model_validate(r)

    def full(r: dict[str, Any]) -> Any:
        return assess(r, definition=defn, as_of=AS_OF)

    full(records[0])  # warm caches (definition, catalog)
    print(f"{args.n} records, {size:.0f} bytes of JSON each; best of {args.runs} runs")
    for collect in (True, False):
        a = min(timed(full, records, collect=collect) for _ in range(args.runs))
        b = min(timed(floor, records, collect=collect) for _ in range(args.runs))
        c = min(timed(ours, records, collect=collect) for _ in range(args.runs))
        n = args.n
        print(
            f"  GC {'on ' if collect else 'off'}: assess {a / n * 1e6:6.1f} µs/record; plain "
            f"pydantic {b / n * 1e6:5.1f} µs → ratio {a / b:4.2f}× (goal ≤ 3×); beside: "
            f"PatientRecord.model_validate {c / n * 1e6:5.1f} µs → {a / c:4.2f}×"
        )
    breakdown(records[: min(5000, args.n)], defn)
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(lambda: [full(r) for r in records[:5000]])
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
