"""Small-cell suppression of aggregates for the quality role: counts from 1 to 10 are hidden,
and so is any count that would let a hidden one be worked out from the totals (`viz.suppression`).

A hidden count is `null` (JSON), "≤10" or "*" (page, CSV), and so are the medians and rates
worked out over it, so that no patient can be singled out from a small group. The pages and the
API use the same cells: `board_hidden` for the board, `engine.web.quality_data` for the
measures and the deviation report, all through one rule (`cells_hidden`).
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from viz.suppression import Suppression, protect

__all__ = [
    "HIDDEN",
    "THRESHOLD",
    "TOTAL",
    "Suppression",
    "board_hidden",
    "cells_hidden",
    "hidden",
    "suppressed_board",
    "totals_hidden",
]

THRESHOLD = 10
HIDDEN = "≤10"
TOTAL = "*total*"
K = TypeVar("K", bound=Hashable)


def hidden(count: int, threshold: int = THRESHOLD) -> bool:
    """Whether a count is small enough to hide (1 … threshold; 0 is shown)."""
    return 0 < count <= threshold


def totals_hidden(
    columns: Mapping[str, tuple[Mapping[str, int], int]], threshold: int = THRESHOLD
) -> dict[tuple[str, str], Suppression]:
    """The cells of a table whose rows add up to a printed total, column by column: each column
    is (counts by row, total); keys are (column, row), row "*total*" for a total. Each with why
    ("primary": small; "complementary": it would give one away, since the rows add up to the
    total). The board is such a table."""
    hidden: dict[tuple[str, str], Suppression] = {}
    for column, (counts, total) in columns.items():
        cells: dict[tuple[str, str], int] = {(column, row): n for row, n in counts.items()}
        cells[(column, TOTAL)] = total
        equation = {k: 1 for k in cells if k[1] != TOTAL} | {(column, TOTAL): -1}
        hidden |= cells_hidden(cells, [equation], threshold)
    return hidden


def cells_hidden(
    values: Mapping[K, int], equations: Sequence[Mapping[K, int]], threshold: int = THRESHOLD
) -> dict[K, Suppression]:
    """The rule itself, for any cells and the public equations between them (sums that are
    printed, or equal counts): counts from 1 to `threshold`, and whatever would give one away
    (`viz.suppression.protect`). Every table the app shows goes through here."""
    return protect(values, equations, threshold=threshold)


def board_hidden(board: Any, threshold: int = THRESHOLD) -> dict[tuple[str, str], Suppression]:
    """The board's cells to hide, keyed (column, state), column "patients" or "due", state
    "*total*" for a total; each with why ("primary": small; "complementary": it would give one
    away, since the states' counts add up to the total)."""
    return totals_hidden(
        {
            "patients": ({r.state: r.patients for r in board.rows}, board.patients),
            "due": ({r.state: r.with_due_item for r in board.rows}, board.with_due_item),
        },
        threshold,
    )


def suppressed_board(board: BaseModel, threshold: int = THRESHOLD) -> str:
    """The board's JSON with the hidden cells (and the medians over a hidden count) set to null,
    and the threshold."""
    hide = board_hidden(board, threshold)
    data: dict[str, Any] = board.model_dump(mode="json")
    for row in data["rows"]:
        if ("patients", row["state"]) in hide:
            row.update(patients=None, median_days=None, p90_days=None)
        if ("due", row["state"]) in hide:
            row["with_due_item"] = None
    for key, column in (("patients", "patients"), ("with_due_item", "due")):
        if (column, "*total*") in hide:
            data[key] = None
    data["suppressed"] = {"threshold": threshold, "shown_as": None}
    return json.dumps(data, ensure_ascii=False)
