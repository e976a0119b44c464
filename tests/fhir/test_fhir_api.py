"""The public API of engine.fhir and engine.measures is pinned; heavy libraries load lazily."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import engine.fhir
import engine.measures

ROOT = Path(__file__).resolve().parents[2]


def test_public_api_is_sorted_and_pinned():
    assert engine.fhir.__all__ == sorted(engine.fhir.__all__)
    assert engine.measures.__all__ == sorted(engine.measures.__all__)
    assert {"export_record", "import_fhir", "plan_definition", "new_facts"} <= set(
        engine.fhir.__all__
    )
    assert {"evaluate", "from_db", "from_fhir", "deviation_report"} <= set(engine.measures.__all__)


@pytest.mark.parametrize("module", ["pathway", "engine.cli", "engine.fhir", "engine.measures"])
def test_importing_does_not_load_fhir_resources_or_sqlalchemy(module):
    code = (
        f"import json, sys; import {module}; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'fhir', 'sqlalchemy'})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == []
