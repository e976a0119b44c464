"""Aggregate patient paths into a `CohortSummary` (pure Python, no database).

Paths are `PatientPath` objects or, for bulk work, plain tuples
`(current_state, steps, days)` where `steps` is a sequence of `(from, trigger, to)` or
`(from, trigger, to, override)` tuples (`trigger` None for an override that named none) and
`days` maps each visited state to the days spent in it (a mapping, or a sequence of
`(state, days)` pairs, which counts faster). The counting runs in C (`Counter` over the raw
tuples); Python only touches the few distinct keys afterwards.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from itertools import chain
from operator import itemgetter
from typing import Any, TypeAlias

from viz.overlays import OVERRIDE, CohortSummary, EdgeKey, PatientPath

StepTuple: TypeAlias = tuple[str, str | None, str] | tuple[str, str | None, str, bool]
Days: TypeAlias = Mapping[str, int] | Sequence[tuple[str, int]]
PathTuple: TypeAlias = tuple[str, Sequence[StepTuple], Days]


def as_tuple(path: PatientPath) -> PathTuple:
    """The bulk form of one patient's path."""
    steps = tuple((s.source, s.trigger, s.dest, s.override) for s in path.steps)
    return (path.current, steps, path.days)


def aggregate(
    paths: Iterable[PatientPath | PathTuple], *, as_of: date, filters: str = ""
) -> CohortSummary:
    """Count patients per state, moves per edge, and median days per state.

    `starts` is derived by flow balance (entries into a state = moves in + paths starting there =
    moves out + patients still there), so it costs nothing per patient.
    """
    rows: list[Any] = paths if isinstance(paths, list) else list(paths)
    if set(map(type, rows)) - {tuple}:
        rows = [p if type(p) is tuple else as_tuple(p) for p in rows]
    current = Counter(map(itemgetter(0), rows))
    raw_steps = Counter(chain.from_iterable(map(itemgetter(1), rows)))
    days: list[Any] = list(map(itemgetter(2), rows))
    kinds = set(map(type, days))
    if kinds <= {tuple, list}:  # (state, days) pairs
        stays = Counter(chain.from_iterable(days))
    elif kinds <= {dict}:
        stays = Counter(chain.from_iterable(map(dict.items, days)))
    else:
        stays = Counter(
            chain.from_iterable(d.items() if isinstance(d, Mapping) else d for d in days)
        )

    traversals: Counter[EdgeKey] = Counter()
    overrides: Counter[EdgeKey] = Counter()
    for step, n in raw_steps.items():
        key: EdgeKey = (step[0], step[1] or OVERRIDE, step[2])
        traversals[key] += n
        if len(step) > 3 and step[3]:
            overrides[key] += n

    medians, visited = _medians(stays)
    return CohortSummary(
        as_of=as_of,
        filters=filters,
        patients=dict(sorted(current.items())),
        starts=starts_by_balance(current, traversals),
        traversals=dict(sorted(traversals.items())),
        overrides=dict(sorted(overrides.items())),
        median_days=medians,
        visited=visited,
    )


def starts_by_balance(
    current: Mapping[str, int], traversals: Mapping[EdgeKey, int]
) -> dict[str, int]:
    """Paths starting in each state: patients there now + moves out - moves in."""
    balance: Counter[str] = Counter(current)
    for (src, _, dst), n in traversals.items():
        balance[src] += n
        balance[dst] -= n
    return {s: n for s, n in sorted(balance.items()) if n > 0}


def _medians(stays: Mapping[tuple[str, int], int]) -> tuple[dict[str, float], dict[str, int]]:
    """Median of days per state from a histogram {(state, days): patients}."""
    hist: defaultdict[str, list[tuple[int, int]]] = defaultdict(list)
    for (state, days), n in stays.items():
        hist[state].append((days, n))
    medians: dict[str, float] = {}
    visited: dict[str, int] = {}
    for state in sorted(hist):
        counts = sorted(hist[state])
        total = sum(n for _, n in counts)
        visited[state] = total
        medians[state] = (_nth(counts, (total - 1) // 2) + _nth(counts, total // 2)) / 2
    return medians, visited


def _nth(counts: Sequence[tuple[int, int]], k: int) -> int:
    """The k-th smallest value (0-based) of a sorted histogram [(value, count)]."""
    seen = 0
    for value, n in counts:
        seen += n
        if k < seen:
            return value
    raise IndexError(k)
