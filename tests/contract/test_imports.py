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


def test_import_pathway_is_lazy_and_assess_stays_the_function():
    code = (
        "import sys; import pathway; loaded = 'pathway.definition' in sys.modules; "
        "from pathway.assess import build; import pathway.assess; "
        "from pathway import assess; "
        "print(loaded, callable(pathway.assess), assess is pathway.assess)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "True", "True"]


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


# -- The import graph: no cycle, layers inside the engine ------------------------------------

PACKAGES = ("pathway", "viz", "engine")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


_BODIES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.For, ast.While)


def _import_nodes(tree: ast.Module, *, lazy: bool) -> list[ast.Import | ast.ImportFrom]:
    """The import statements a module runs: at module level (also inside `if`/`try`), and with
    `lazy` those inside functions too; never those under `if TYPE_CHECKING:`."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.append(node)
            elif isinstance(node, ast.If):
                if not _is_type_checking(node):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, ast.With) or (lazy and isinstance(node, _BODIES)):
                visit(node.body)

    visit(tree.body)
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module of ours an imported dotted name lands in (None: not ours)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _edges(module: str, path: Path, *, lazy: bool) -> set[str]:
    """The modules of ours that `module` imports (`from a import b` is an edge to `a.b` when
    `b` is a submodule, else to `a`)."""
    modules = _modules()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: set[str] = set()
    for node in _import_nodes(tree, lazy=lazy):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                package = module.split(".")
                if path.name != "__init__.py":
                    package = package[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, *([node.module] if node.module else [])])
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        out |= {m for n in names if (m := _resolve(n, modules)) is not None and m != module}
    return out


def _graph(*, lazy: bool, only: str | None = None) -> dict[str, set[str]]:
    return {
        m: _edges(m, p, lazy=lazy)
        for m, p in _modules().items()
        if only is None or m.split(".")[0] == only
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next((c for c in children if c in graph), None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_at_module_level():
    assert _cycles(_graph(lazy=False)) == []


def test_no_import_cycle_in_the_engine_even_through_imports_inside_functions():
    assert _cycles(_graph(lazy=True, only="engine")) == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_module_level_imports_but_not_type_checking_ones(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\nimport engine.store.db\n"
        "if TYPE_CHECKING:\n    from engine.services import Services\n"
        "def f():\n    from engine.queries import board\n"
    )
    tree = ast.parse(module.read_text())
    assert len(_import_nodes(tree, lazy=False)) == 2
    assert len(_import_nodes(tree, lazy=True)) == 3


# Inside the engine: store ← queries ← services ← cli. A layer imports only those below it
# (imports inside functions included; `TYPE_CHECKING` ones, for annotations, are not).
ENGINE_LAYERS = {
    "engine.store": ("engine.cli", "engine.queries", "engine.services", "engine.simulator"),
    "engine.queries": ("engine.cli", "engine.services", "engine.simulator"),
}


def test_engine_layers_point_down():
    wrong = []
    graph = _graph(lazy=True, only="engine")
    for module, imported in graph.items():
        for layer, above in ENGINE_LAYERS.items():
            if module == layer or module.startswith(layer + "."):
                wrong += [
                    f"{module} imports {m}"
                    for m in sorted(imported)
                    if any(m == a or m.startswith(a + ".") for a in above)
                ]
        if not module.startswith("engine.cli"):
            wrong += [
                f"{module} imports {m}" for m in sorted(imported) if m.startswith("engine.cli")
            ]
    assert wrong == []


# -- Every module says what it holds; every package's __all__ is its real public names -------


@pytest.mark.parametrize("module", sorted(_modules()), ids=str)
def test_every_module_has_a_docstring(module):
    tree = ast.parse(_modules()[module].read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree)
    assert doc and doc.splitlines()[0].strip(), f"{module} has no one-line docstring"


def _public_names(package) -> set[str]:
    """What a package really offers: the names of its lazy `_EXPORTS` table, else every
    non-underscore name bound in it that is not a submodule or a `__future__` feature."""
    import __future__

    import types

    exports = getattr(package, "_EXPORTS", None)
    if exports is not None:
        return set(exports)
    return {
        name
        for name, value in vars(package).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and not isinstance(value, __future__._Feature)
    }


@pytest.mark.parametrize(
    "name",
    [
        "pathway",
        "viz",
        "engine",
        "engine.cli",
        "engine.fhir",
        "engine.measures",
        "engine.simulator",
    ],
)
def test_all_is_the_packages_real_public_names(name):
    import importlib

    package = importlib.import_module(name)
    assert package.__all__ == sorted(package.__all__, key=lambda n: (not n.isupper(), n)) or (
        package.__all__ == sorted(package.__all__)
    )
    assert len(set(package.__all__)) == len(package.__all__)
    for exported in package.__all__:
        assert getattr(package, exported) is not None, f"{name}.{exported} does not resolve"
    assert set(package.__all__) == _public_names(package)


def test_engine_exports_resolve_in_the_module_the_table_names():
    import importlib

    import engine

    for name, module in engine._EXPORTS.items():
        assert hasattr(importlib.import_module(module), name), f"{module} has no {name}"
