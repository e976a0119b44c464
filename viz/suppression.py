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
3. *Ranges*: a reader knows that "≤threshold" is 1 to `threshold` and "*" more than it (a
   complementary cell is a printed, non-zero count). When no cell is disclosed by the equations
   alone, `bounded` narrows each hidden cell's range equation by equation; while a primary cell
   is pinned that way, one more cell of its equations is hidden as in 2.

The check is exact linear algebra: a hidden cell is disclosed exactly when its unit vector lies in
the row space of the equations restricted to the hidden cells, which Gauss–Jordan elimination on
integer rows (fraction-free, each row kept divided by its gcd) decides without rounding. Bounds
remain (a hidden cell is still known to be at most its equation's total), as with any cell
suppression.

Choosing a complementary cell asks, for every candidate, what hiding it would leave disclosed.
One elimination per round answers all of them (`_Round`): with the hidden cells' matrix M
reduced, and T the row operations that reduced it, a candidate's column c either is not in M's
column space (some row of T that M reduced to zero does not vanish on c: the candidate itself
would be disclosed, and so would every cell disclosed now), or c = M·y, and a disclosed cell
stays disclosed exactly when its y is 0, read off T·c on that cell's row.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from math import gcd
from typing import Generic, Literal, TypeVar

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
    cells = _incidence(equations)
    hidden: dict[K, Suppression] = {k: "primary" for k, v in values.items() if 1 <= v <= threshold}
    while True:
        now = _Round(list(hidden), cells, len(equations))
        around: Sequence[K] = list(hidden)
        if not now.pinned:
            around = bounded(values, equations, hidden, threshold=threshold)
            if not around:
                break
        pick = _complement(values, equations, cells, around, hidden, order, rank, now)
        if pick is None:  # nothing left to hide: every non-zero cell is hidden already
            break
        hidden[pick] = "complementary"
    return hidden


def bounded(
    values: Mapping[K, int],
    equations: Sequence[Equation[K]],
    hidden: Mapping[K, Suppression],
    *,
    threshold: int,
    passes: int = 50,
) -> list[K]:
    """Primary cells that the equations pin down exactly once a reader uses what each mark
    says: "≤threshold" is 1 to `threshold`, and "*" is more than `threshold` (only a printed
    count, which is not small, and never a zero, is hidden as complementary). Each equation
    narrows the range of each of its hidden cells to what the others' ranges leave (e.g. a row
    of 12 hidden as "≤10" and "*" is 1 and 11); repeated over the equations until nothing
    changes (at most `passes` times). Sound, not complete: a pin that only linear programming
    finds may be missed."""
    lo: dict[K, int] = {}
    hi: dict[K, int | None] = {}
    for k, why in hidden.items():
        lo[k], hi[k] = (1, threshold) if why == "primary" else (threshold + 1, None)
    rows = []
    for eq in equations:
        terms = [(k, c) for k, c in eq.items() if c and k in hidden]
        if terms:  # sum of the hidden terms = minus the printed ones
            rows.append(
                (terms, -sum(c * values.get(k, 0) for k, c in eq.items() if k not in hidden))
            )
    for _ in range(passes):
        changed = False
        for terms, rhs in rows:
            whole = _Span([_term(c, lo[k], hi[k]) for k, c in terms])
            for k, c in terms:
                least, most = whole.without(_term(c, lo[k], hi[k]))
                # c * x = rhs - (the others), the others from least to most
                floor = None if most is None else rhs - most
                ceiling = None if least is None else rhs - least
                if c < 0:
                    floor, ceiling = _neg(ceiling), _neg(floor)
                step = abs(c)
                new_lo = lo[k] if floor is None else max(lo[k], -(-floor // step))
                new_hi = hi[k]
                if ceiling is not None:
                    new_hi = ceiling // step if new_hi is None else min(new_hi, ceiling // step)
                if new_hi is not None and new_hi < new_lo:  # not what the marks say: leave it
                    continue
                if new_lo != lo[k] or new_hi != hi[k]:
                    lo[k], hi[k], changed = new_lo, new_hi, True
        if not changed:
            break
    return [k for k, why in hidden.items() if why == "primary" and lo[k] == hi[k]]


def _neg(x: int | None) -> int | None:
    return None if x is None else -x


def _term(c: int, low: int, high: int | None) -> tuple[int | None, int | None]:
    """The least and the most c * x can be for x from low to high (None: unbounded)."""
    a: int | None = c * low
    b: int | None = None if high is None else c * high
    return (a, b) if c > 0 else (b, a)


class _Span:
    """The least and the most a sum of terms can be, with each term's share taken out in O(1):
    the finite parts added up, the unbounded ones counted."""

    def __init__(self, terms: list[tuple[int | None, int | None]]) -> None:
        self.least = sum(a for a, _ in terms if a is not None)
        self.most = sum(b for _, b in terms if b is not None)
        self.open_below = sum(1 for a, _ in terms if a is None)
        self.open_above = sum(1 for _, b in terms if b is None)

    def without(self, term: tuple[int | None, int | None]) -> tuple[int | None, int | None]:
        """The least and the most of the others' sum (None: unbounded that way)."""
        a, b = term
        below = self.open_below - (a is None)
        above = self.open_above - (b is None)
        least = None if below else self.least - (a or 0)
        most = None if above else self.most - (b or 0)
        return least, most


def _complement(
    values: Mapping[K, int],
    equations: Sequence[Equation[K]],
    cells: Mapping[K, list[tuple[int, int]]],
    around: Sequence[K],
    hidden: Mapping[K, Suppression],
    order: Mapping[K, int],
    rank: Callable[[K], int],
    now: _Round[K],
) -> K | None:
    """The printed non-zero cell whose hiding leaves the fewest cells disclosed (then the
    smallest), among the cells that share an equation with one of `around` (the hidden cells,
    or those pinned down by their ranges)."""
    candidates = {
        k
        for eq in equations
        if any(h in eq for h in around)
        for k in eq
        if k not in hidden and values.get(k, 0) > 0
    }
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda k: (now.disclosed_with(cells.get(k, [])), rank(k), values[k], order.get(k, 0)),
    )


class _Round(Generic[K]):
    """The hidden cells' equations reduced once, with the row operations that reduced them, so
    that `disclosed_with` answers `len(_pinned([*hidden, k], cells))` for any k in a few dot
    products (see the module docstring)."""

    def __init__(
        self, hidden: Sequence[K], cells: Mapping[K, list[tuple[int, int]]], equations: int
    ) -> None:
        width = len(hidden)
        rows = [[0] * width + [int(i == e) for i in range(equations)] for e in range(equations)]
        for j, k in enumerate(hidden):
            for i, c in cells.get(k, ()):
                rows[i][j] += c
        self.pinned: list[list[int]] = []  # T's row of each disclosed cell
        self.null: list[list[int]] = []  # T's rows that reduce M to zero
        for row in _reduced(rows, width, keep_zero=True):
            nonzero = sum(1 for x in row[:width] if x)
            if nonzero == 1:
                self.pinned.append(row[width:])
            elif nonzero == 0:
                self.null.append(row[width:])

    def disclosed_with(self, column: list[tuple[int, int]]) -> int:
        """How many cells would be disclosed with one more hidden, given its column."""

        def dot(t: list[int]) -> int:
            return sum(t[i] * c for i, c in column)

        if any(dot(t) for t in self.null):
            return len(self.pinned) + 1
        return sum(1 for t in self.pinned if not dot(t))


def disclosed(hidden: Sequence[K], equations: Sequence[Equation[K]]) -> list[K]:
    """Hidden cells that the equations pin down exactly (in the order of `hidden`)."""
    return _pinned(hidden, _incidence(equations))


def _incidence(equations: Sequence[Equation[K]]) -> dict[K, list[tuple[int, int]]]:
    """Each cell's (equation number, coefficient) pairs: the equations' columns."""
    cells: dict[K, list[tuple[int, int]]] = {}
    for i, eq in enumerate(equations):
        for k, c in eq.items():
            if c:
                cells.setdefault(k, []).append((i, c))
    return cells


def _pinned(hidden: Sequence[K], cells: Mapping[K, list[tuple[int, int]]]) -> list[K]:
    """`disclosed`, from the equations' columns: the matrix is built from the hidden cells'
    columns alone (a few short lists), not by reading every equation."""
    by_equation: dict[int, list[int]] = {}
    width = len(hidden)
    for j, k in enumerate(hidden):
        for i, c in cells.get(k, ()):
            row = by_equation.get(i)
            if row is None:
                row = by_equation[i] = [0] * width
            row[j] += c
    pinned: list[int] = []
    for row in _reduced(list(by_equation.values()), width):
        nonzero = [j for j, x in enumerate(row) if x]
        if len(nonzero) == 1:
            pinned.append(nonzero[0])
    return [hidden[j] for j in sorted(pinned)]


def _reduced(rows: list[list[int]], width: int, *, keep_zero: bool = False) -> list[list[int]]:
    """Reduced row echelon form of the first `width` columns up to a factor per row
    (fraction-free Gauss–Jordan on integers, each row divided by the gcd of its entries; columns
    past `width` are carried along), rows zero in those columns dropped unless `keep_zero`. A
    row's nonzero entries are where the rational reduced form has them."""
    rows = [r[:] for r in rows if keep_zero or any(r)]
    lead = 0
    for col in range(width):
        pivot = next((r for r in range(lead, len(rows)) if rows[r][col]), None)
        if pivot is None:
            continue
        rows[lead], rows[pivot] = rows[pivot], rows[lead]
        top = rows[lead]
        p = top[col]
        for r, row in enumerate(rows):
            f = row[col]
            if r != lead and f:
                new = [p * a - f * b for a, b in zip(row, top, strict=True)]
                g = gcd(*new)
                rows[r] = [x // g for x in new] if g > 1 else new
        lead += 1
        if lead == len(rows):
            break
    return rows if keep_zero else rows[:lead]
