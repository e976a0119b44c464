"""Small-cell suppression of aggregates for the quality role: counts from 1 to 10 are hidden.

A hidden count is `null` (JSON) or "≤10" (CSV), and so are the medians worked out over it, so
that no patient can be singled out from a small group.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

THRESHOLD = 10
HIDDEN = "≤10"


def hidden(count: int, threshold: int = THRESHOLD) -> bool:
    """Whether a count is small enough to hide (1 … threshold; 0 is shown)."""
    return 0 < count <= threshold


def suppressed_board(board: BaseModel, threshold: int = THRESHOLD) -> str:
    """The board's JSON with small cells (and their medians) set to null, and the threshold."""
    data: dict[str, Any] = board.model_dump(mode="json")
    for row in data["rows"]:
        if hidden(row["patients"], threshold):
            row.update(patients=None, median_days=None, p90_days=None)
        if hidden(row["with_due_item"], threshold):
            row["with_due_item"] = None
    for key in ("patients", "with_due_item"):
        if hidden(data[key], threshold):
            data[key] = None
    data["suppressed"] = {"threshold": threshold, "shown_as": None}
    return json.dumps(data, ensure_ascii=False)
