"""Small-cell suppression of aggregates for the quality role: counts from 1 to 10 are hidden,
and so is any count that would let a hidden one be worked out from the totals (`viz.suppression`).

A hidden count is `null` (JSON), "≤10" or "*" (page, CSV), and so are the medians worked out over
it, so that no patient can be singled out from a small group. The pages and the API use the same
cells (`board_hidden`).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from viz.suppression import Suppression, protect

THRESHOLD = 10
HIDDEN = "≤10"


def hidden(count: int, threshold: int = THRESHOLD) -> bool:
    """Whether a count is small enough to hide (1 … threshold; 0 is shown)."""
    return 0 < count <= threshold


def board_hidden(board: Any, threshold: int = THRESHOLD) -> dict[tuple[str, str], Suppression]:
    """The board's cells to hide, keyed (column, state), column "patients" or "due", state
    "*total*" for a total; each with why ("primary": small; "complementary": it would give one
    away, since the states' counts add up to the total)."""
    hidden: dict[tuple[str, str], Suppression] = {}
    for column, total in (("patients", board.patients), ("due", board.with_due_item)):
        cells: dict[tuple[str, str], int] = {
            (column, r.state): (r.patients if column == "patients" else r.with_due_item)
            for r in board.rows
        }
        cells[(column, "*total*")] = total
        equation = {k: 1 for k in cells if k[1] != "*total*"} | {(column, "*total*"): -1}
        hidden |= protect(cells, [equation], threshold=threshold)
    return hidden


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
