"""Small-cell suppression that cannot be undone by subtraction: primary plus complementary cells.

The rule (used by the cohort overlay, documented in `viz/README.md`):

1. *Primary*: every count from 1 to `threshold` is hidden (printed as "≤threshold"). Zeros are
   printed: "nobody" identifies no one.
2. *Complementary*: the published numbers obey linear equations (a state's inflow equals its
   entries equals its outflow plus those still there; the states' counts add up to the cohort
   size). A hidden cell is *disclosed* when some combination of those equations pins it down
   exactly from printed numbers. While one is, a non-zero printed cell from the
   equations that contain a hidden cell is hidden too (printed as "*"): the one that leaves the
   fewest cells disclosed, then the lowest rank (the overlay hides edge counts before state
   counts), then the smallest; and the check runs again. Totals are cells like any
   other, so a total that would give a hidden cell away is hidden as well.

The check is exact linear algebra over rationals: a hidden cell is disclosed exactly when its unit
vector lies in the row space of the equations restricted to the hidden cells. Bounds remain
(a hidden cell is still known to be at most its equation's total), as with any cell suppression.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from fractions import Fraction
from typing import Literal, TypeVar

K = TypeVar("K", bound=Hashable)
Suppression = Literal["primary", "complementary"]
Equation = Mapping[K, int]
"""Coefficients of cells in a sum that is public (a printed total, or zero)."""


def protect(
    values: Mapping[K, int],
    equations: Sequence[Equation[K]],
    *,
    threshold: int,
    rank: Callable[[K], int] = lambda _k: 0,
) -> dict[K, Suppression]:
    """Which cells to hide, and why. `values` is in a stable order; ties break by that order.

    `rank` orders complementary candidates that protect equally well: lower ranks are hidden
    first (the cohort overlay hides edge counts before the patients in a state).
    """
    order = {k: i for i, k in enumerate(values)}
    hidden: dict[K, Suppression] = {k: "primary" for k, v in values.items() if 1 <= v <= threshold}
    while disclosed(list(hidden), equations):
        pick = _complement(values, equations, hidden, order, rank)
        if pick is None:  # nothing left to hide: every non-zero cell is hidden already
            break
        hidden[pick] = "complementary"
    return hidden


def _complement(
    values: Mapping[K, int],
    equations: Sequence[Equation[K]],
    hidden: Mapping[K, Suppression],
    order: Mapping[K, int],
    rank: Callable[[K], int],
) -> K | None:
    """The printed non-zero cell whose hiding leaves the fewest cells disclosed (then the
    smallest), among the cells that share an equation with a hidden one."""
    candidates = {
        k
        for eq in equations
        if any(h in eq for h in hidden)
        for k in eq
        if k not in hidden and values.get(k, 0) > 0
    }
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda k: (
            len(disclosed([*hidden, k], equations)),
            rank(k),
            values[k],
            order.get(k, 0),
        ),
    )


def disclosed(hidden: Sequence[K], equations: Sequence[Equation[K]]) -> list[K]:
    """Hidden cells that the equations pin down exactly (in the order of `hidden`)."""
    column = {k: i for i, k in enumerate(hidden)}
    rows: list[list[Fraction]] = []
    for eq in equations:
        if any(k in column for k in eq):
            row = [Fraction(0)] * len(hidden)
            for k, c in eq.items():
                if k in column:
                    row[column[k]] += c
            rows.append(row)
    pinned: list[int] = []
    for row in _reduced(rows, len(hidden)):
        nonzero = [j for j, x in enumerate(row) if x != 0]
        if len(nonzero) == 1:
            pinned.append(nonzero[0])
    return [hidden[j] for j in sorted(pinned)]


def _reduced(rows: list[list[Fraction]], width: int) -> list[list[Fraction]]:
    """Reduced row echelon form (Gauss–Jordan), zero rows dropped."""
    rows = [r[:] for r in rows]
    lead = 0
    for col in range(width):
        pivot = next((r for r in range(lead, len(rows)) if rows[r][col] != 0), None)
        if pivot is None:
            continue
        rows[lead], rows[pivot] = rows[pivot], rows[lead]
        p = rows[lead][col]
        rows[lead] = [x / p for x in rows[lead]]
        for r in range(len(rows)):
            if r != lead and rows[r][col] != 0:
                f = rows[r][col]
                rows[r] = [a - f * b for a, b in zip(rows[r], rows[lead], strict=True)]
        lead += 1
        if lead == len(rows):
            break
    return rows[:lead]
