"""FHIR test helpers (imported as `fhir_support`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write(path: Path, data: Any) -> Path:
    """Write JSON and return the path."""
    path.write_text(json.dumps(data), encoding="utf-8")
    return path
