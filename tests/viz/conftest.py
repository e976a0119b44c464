"""Fixtures for the diagram tests: the TRD definition, edited copies of it, paths and cohorts."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from pathway import Definition, load_definition
from pathway.yamlio import read_data
from viz import PathStep, PatientPath

ROOT = Path(__file__).resolve().parents[2]
TRD = ROOT / "definitions" / "trd.yaml"
AS_OF = date(2026, 6, 1)


@pytest.fixture
def needs_dot() -> None:
    """Skip where the Graphviz `dot` program is absent (and only there)."""
    if shutil.which("dot") is None:
        pytest.skip("the Graphviz `dot` program is not installed")


@pytest.fixture
def trd() -> Definition:
    return load_definition(TRD)


@pytest.fixture
def edited_definition(tmp_path: Path) -> Callable[[Callable[[dict[str, Any]], None]], Path]:
    """A factory: apply `edit` to the TRD definition's data and write it (with its catalog
    files) to a temporary folder; returns the YAML's path."""

    def make(edit: Callable[[dict[str, Any]], None]) -> Path:
        data, _ = read_data(TRD)
        edit(data)
        for name in ("drugs.yaml", "instruments.yaml"):
            shutil.copy(TRD.parent / name, tmp_path / name)
        out = tmp_path / "trd.yaml"
        out.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
        return out

    return make


Move = tuple[str, str | None, str] | tuple[str, str | None, str, str]


@pytest.fixture
def make_path() -> Callable[..., PatientPath]:
    """A factory: a patient's path from moves `(from, trigger, to)` or, for an override,
    `(from, trigger or None, to, reason)`; one week per move, days as given."""

    def make(
        moves: list[Move],
        *,
        patient_id: str = "P-001",
        days: dict[str, int] | None = None,
        start: date = date(2026, 1, 5),
    ) -> PatientPath:
        steps = [
            PathStep(
                source=m[0],
                trigger=m[1],
                dest=m[2],
                effective=start + timedelta(weeks=i + 1),
                override=len(m) == 4,
                reason=m[3] if len(m) == 4 else None,
            )
            for i, m in enumerate(moves)
        ]
        current = moves[-1][2] if moves else "initial_trial"
        return PatientPath(
            patient_id=patient_id, as_of=AS_OF, current=current, steps=steps, days=days or {}
        )

    return make
