"""Helpers shared by the engine tests (imported as `engine_support`)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from engine.definitions import DefinitionRegistry
from engine.services import Services

TODAY = dt.date(2026, 6, 1)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PG_ENV = "PATHWAY_TEST_POSTGRES_URL"


def registry() -> DefinitionRegistry:
    """The shipped definitions only (ignores $PATHWAY_DEFINITIONS)."""
    return DefinitionRegistry(["trd"], use_env=False)


def example_records() -> list[dict[str, Any]]:
    """The example patient records (JSON and YAML), as plain data."""
    from pathway.yamlio import read_data

    out = []
    for f in sorted(EXAMPLES.iterdir()):
        if f.suffix in (".json", ".yaml"):
            data, _ = read_data(f)
            out.append(data)
    return out


def snapshot(svc: Services) -> list[Any]:
    """Everything stored, comparable: enrollments and logs (to prove nothing was written)."""
    with svc.uow as uow:
        return [
            (head, [(e.version, e.kind, e.payload) for e in log])
            for head, log in uow.patients.iter_patients()
        ]


def dump(data: Any, path: Path) -> Path:
    """Write JSON to a file and return its path."""
    path.write_text(json.dumps(data), encoding="utf-8")
    return path
