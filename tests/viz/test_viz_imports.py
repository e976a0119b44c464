"""Import direction: viz needs no engine, database or state-machine library, and loads lazily."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

VIZ = Path(__file__).resolve().parents[2] / "viz"
ALLOWED = {"pathway", "viz", "pydantic", "graphviz"}
FORBIDDEN = {"engine", "sqlalchemy", "sqlmodel", "transitions"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", sorted(VIZ.rglob("*.py")), ids=lambda p: p.name)
def test_viz_imports_only_the_stdlib_pydantic_graphviz_and_pathway(path: Path) -> None:
    roots = imported_roots(path)
    assert not roots & FORBIDDEN, f"{path.name} imports {sorted(roots & FORBIDDEN)}"
    third_party = {r for r in roots if r not in sys.stdlib_module_names and r != "__future__"}
    assert third_party <= ALLOWED, f"{path.name} imports {sorted(third_party - ALLOWED)}"


def test_import_viz_loads_neither_graphviz_nor_the_engine() -> None:
    code = (
        "import sys, viz\n"
        "viz.render(fmt='dot'); viz.render(fmt='mermaid'); viz.render(fmt='json')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'graphviz', 'engine', 'sqlalchemy', 'sqlmodel', 'transitions'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=VIZ.parent,
    )
    assert out.stdout.strip() == ""
