"""Write a diagram as JSON: nodes and edges with their counts, for other tools."""

from __future__ import annotations

import json

from viz.model import Diagram


def to_json(diagram: Diagram) -> str:
    """Stable JSON (declaration order, fixed key order, no timestamps), ending in a newline."""
    data = diagram.model_dump(mode="json")
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
