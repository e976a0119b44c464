"""The public API: formats, files, determinism, errors, and life without Graphviz."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import viz
from pathway import Definition, PathwayError


def test_all_is_sorted_and_pinned() -> None:
    assert viz.__all__ == sorted(viz.__all__, key=lambda n: (not n.isupper(), n))
    assert set(viz.__all__) == {
        "FORMATS",
        "OVERRIDE",
        "Cell",
        "Cluster",
        "CohortSummary",
        "DefinitionDiff",
        "Diagram",
        "Edge",
        "EdgeKey",
        "GraphvizNotInstalled",
        "ItemChange",
        "Node",
        "OverlayMismatch",
        "PathStep",
        "PatientPath",
        "RenderFailed",
        "UnknownFormat",
        "aggregate",
        "build",
        "diff",
        "render",
        "render_diagram",
        "render_to_file",
    }


@pytest.mark.parametrize("fmt", ["dot", "mermaid", "json"])
def test_text_formats_are_deterministic_str(trd: Definition, fmt: str) -> None:
    first = viz.render(trd, fmt=fmt)
    assert isinstance(first, str)
    assert first == viz.render(trd, fmt=fmt)


@pytest.mark.usefixtures("needs_dot")
def test_svg_is_deterministic(trd: Definition) -> None:
    assert viz.render(trd, fmt="svg") == viz.render(trd, fmt="svg")


def test_definition_may_be_a_path_an_id_or_nothing(trd: Definition) -> None:
    path = Path(__file__).resolve().parents[2] / "definitions" / "trd.yaml"
    expected = viz.render(trd, fmt="dot")
    assert viz.render(path, fmt="dot") == expected
    assert viz.render("trd", fmt="dot") == expected
    assert viz.render(fmt="dot") == expected


def test_json_lists_nodes_and_edges(trd: Definition) -> None:
    data = json.loads(str(viz.render(trd, fmt="json")))
    assert [n["id"] for n in data["nodes"] if n["kind"] not in ("start", "any")] == [
        s.id for s in trd.states
    ]
    assert (data["definition_id"], data["definition_version"]) == ("trd", "1.1.0")
    assert "as_of" in data and data["as_of"] is None


def test_unknown_format(trd: Definition) -> None:
    with pytest.raises(viz.UnknownFormat, match="choose one of dot, svg, png, pdf, mermaid, json"):
        viz.render(trd, fmt="gif")


@pytest.mark.parametrize(
    "name, check",
    [("out.dot", "digraph"), ("out.mmd", "stateDiagram-v2"), ("out.json", '"nodes"')],
)
def test_render_to_file_picks_the_format_from_the_suffix(
    trd: Definition, tmp_path: Path, name: str, check: str
) -> None:
    out = viz.render_to_file(trd, path=tmp_path / "sub" / name)
    assert out == tmp_path / "sub" / name
    assert check in out.read_text(encoding="utf-8")


def test_render_to_file_needs_a_known_suffix_or_format(trd: Definition, tmp_path: Path) -> None:
    with pytest.raises(viz.UnknownFormat):
        viz.render_to_file(trd, path=tmp_path / "diagram.txt")
    out = viz.render_to_file(trd, path=tmp_path / "diagram.txt", fmt="mermaid")
    assert out.read_text(encoding="utf-8").startswith("---")


@pytest.mark.usefixtures("needs_dot")
def test_render_to_file_writes_svg(trd: Definition, tmp_path: Path) -> None:
    out = viz.render_to_file(trd, path=tmp_path / "trd.svg")
    assert out.read_bytes().lstrip().startswith(b"<?xml")


@pytest.mark.parametrize("fmt", ["svg", "png", "pdf"])
def test_without_graphviz_images_fail_with_install_advice(
    trd: Definition, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(viz.GraphvizNotInstalled) as err:
        viz.render(trd, fmt=fmt)
    assert isinstance(err.value, PathwayError)
    assert "apt-get install graphviz" in str(err.value)
    for text_format in ("dot", "mermaid", "json"):
        assert viz.render(trd, fmt=text_format)


@pytest.mark.usefixtures("needs_dot")
def test_a_dot_failure_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from viz.graphviz_run import run_dot

    with pytest.raises(viz.RenderFailed, match="syntax error"):
        run_dot("digraph { a -> }", "svg")
