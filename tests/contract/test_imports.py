"""The shape of the house: `import pathway` stays light, imports point one way, the public API
is pinned, and the engine code in pathway/ names no state of the TRD pathway (style.md)."""

from __future__ import annotations

import ast
import functools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import pathway

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("graphviz", "sqlalchemy", "sqlmodel", "transitions")


def test_import_pathway_does_not_import_heavy_libraries():
    code = (
        "import json, sys; import pathway; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(done.stdout))
    assert "pathway" in loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


EXPECTED_ALL = [
    "Assessment",
    "Catalog",
    "Definition",
    "DefinitionError",
    "Drug",
    "Facts",
    "GuardResult",
    "Instrument",
    "InvalidTrigger",
    "Issue",
    "PathwayError",
    "PatientRecord",
    "PredicateResult",
    "RecordError",
    "StaleVersion",
    "State",
    "Transition",
    "TransitionBlocked",
    "Tri",
    "TrialAssessment",
    "UnknownPatient",
    "assess",
    "default_catalog",
    "derive",
    "guard_results",
    "load_catalog",
    "load_definition",
    "load_record",
    "parse_record",
    "recommend",
]


def test_public_api_is_sorted_and_pinned():
    assert pathway.__all__ == sorted(pathway.__all__)
    assert pathway.__all__ == EXPECTED_ALL
    for name in pathway.__all__:
        assert getattr(pathway, name) is not None


def test_errors_form_one_tree():
    for name in (
        "DefinitionError",
        "RecordError",
        "TransitionBlocked",
        "InvalidTrigger",
        "StaleVersion",
        "UnknownPatient",
    ):
        assert issubclass(getattr(pathway, name), pathway.PathwayError)


# -- Import direction: definitions → pathway → viz → engine ---------------------------------

STDLIB = set(sys.stdlib_module_names) | {"__future__"}
ALLOWED = {
    "pathway": STDLIB | {"pathway", "pydantic", "pydantic_core", "yaml"},
    "viz": None,  # anything but the forbidden ones below
    "engine": None,
}
FORBIDDEN = {
    "pathway": {"viz", "engine", "graphviz", "sqlalchemy", "sqlmodel", "transitions", "typer"},
    "viz": {"engine", "sqlalchemy", "sqlmodel", "transitions", "alembic", "psycopg"},
    "engine": set(),
}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, top-level module) of every absolute import in a file, including lazy ones."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module.split(".")[0]))
    return out


@pytest.mark.parametrize("package", ["pathway", "viz", "engine"])
def test_imports_point_one_way(package):
    files = sorted((ROOT / package).rglob("*.py"))
    if package == "pathway":
        assert files, "pathway/ has no modules"
    wrong = []
    for path in files:
        for line, module in _imports(path):
            allowed = ALLOWED[package]
            if module in FORBIDDEN[package] or (allowed is not None and module not in allowed):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert wrong == []


def test_the_import_direction_check_sees_lazy_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from engine.store.db import x\n    import graphviz\n")
    assert _imports(module) == [(2, "engine"), (3, "graphviz")]


# -- The engine is generic: nothing in pathway/ names a state of the TRD pathway -------------


@functools.cache
def _state_ids() -> list[str]:
    definition = yaml.safe_load((ROOT / "definitions" / "trd.yaml").read_text(encoding="utf-8"))
    return [s["id"] for s in definition["states"]]


def test_the_trd_states_are_the_ones_searched_for():
    assert _state_ids() == [
        "initial_trial",
        "reassess",
        "complete_trial",
        "differential_review",
        "augment",
        "switch",
        "rapid_acting",
        "neurostimulation",
        "maintenance",
        "exited",
    ]


def _quoted(text: str, word: str) -> bool:
    return re.search(rf"""(['"]){re.escape(word)}\1""", text) is not None


def _code_strings(path: Path) -> list[str]:
    """Every string literal of a module except docstrings (which may cite examples)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def _names_a_state(literal: str, state: str) -> bool:
    """A literal that is a state id, or quotes one ("go to 'reassess'")."""
    return literal == state or _quoted(literal, state)


@pytest.mark.parametrize("path", sorted((ROOT / "pathway").rglob("*.py")), ids=lambda p: p.name)
def test_pathway_names_no_state_of_the_trd_pathway(path):
    # A field value like `role == "augmentation"` is fine; "augment" or 'reassess' is not.
    states = _state_ids()
    found = {s for literal in _code_strings(path) for s in states if _names_a_state(literal, s)}
    assert found == set()


def test_the_state_name_check_finds_a_state_in_code(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        '"""Docstrings may say \'augment\'."""\n'
        'ROLE = "augmentation"\n'
        "def f(state):\n"
        '    """Or \'reassess\'."""\n'
        '    return state == "switch" or f"go to \'maintenance\'"\n'
    )
    literals = _code_strings(module)
    assert {s for lit in literals for s in _state_ids() if _names_a_state(lit, s)} == {
        "switch",
        "maintenance",
    }
