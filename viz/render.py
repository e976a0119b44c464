"""The entry points: a definition (and an overlay) to dot, svg, png, pdf, mermaid or json."""

from __future__ import annotations

from pathlib import Path

from pathway.definition import Definition
from pathway.loader import load_definition
from viz.build import build
from viz.dot import to_dot
from viz.errors import UnknownFormat
from viz.graphviz_run import IMAGE_FORMATS, run_dot
from viz.json_output import to_json
from viz.mermaid import to_mermaid
from viz.model import Diagram
from viz.overlays import CohortSummary, PatientPath

FORMATS = ("dot", "svg", "png", "pdf", "mermaid", "json")
SUFFIXES = {
    ".dot": "dot",
    ".gv": "dot",
    ".svg": "svg",
    ".png": "png",
    ".pdf": "pdf",
    ".mmd": "mermaid",
    ".mermaid": "mermaid",
    ".json": "json",
}
DefinitionLike = Definition | str | Path | None
"""A loaded definition, a path to its YAML, a shipped definition's id, or None (the TRD one)."""


def as_definition(definition: DefinitionLike) -> Definition:
    """Load a definition unless it is one already."""
    return definition if isinstance(definition, Definition) else load_definition(definition)


def render_diagram(diagram: Diagram, *, fmt: str = "svg") -> bytes | str:
    """Write a diagram model: text (str) for dot, mermaid and json; bytes for svg, png and pdf."""
    if fmt == "dot":
        return to_dot(diagram)
    if fmt == "mermaid":
        return to_mermaid(diagram)
    if fmt == "json":
        return to_json(diagram)
    if fmt in IMAGE_FORMATS:
        return run_dot(to_dot(diagram), fmt)
    raise UnknownFormat(fmt, FORMATS)


def render(
    definition: DefinitionLike = None,
    *,
    fmt: str = "svg",
    patient: PatientPath | None = None,
    cohort: CohortSummary | None = None,
    no_guards: bool = False,
    suppress: bool = True,
    threshold: int = 10,
) -> bytes | str:
    """Draw a definition, optionally with one patient's path or a cohort's numbers on it.

    Cohort counts from 1 to `threshold` are hidden unless `suppress=False` (see
    `viz.suppression`). svg, png and pdf need the Graphviz `dot` program
    (`GraphvizNotInstalled` says how to get it); dot, mermaid and json do not.
    """
    if fmt not in FORMATS:
        raise UnknownFormat(fmt, FORMATS)
    diagram = build(
        as_definition(definition),
        patient=patient,
        cohort=cohort,
        no_guards=no_guards,
        suppress=suppress,
        threshold=threshold,
    )
    return render_diagram(diagram, fmt=fmt)


def render_to_file(
    definition: DefinitionLike = None,
    *,
    path: str | Path,
    fmt: str | None = None,
    patient: PatientPath | None = None,
    cohort: CohortSummary | None = None,
    no_guards: bool = False,
    suppress: bool = True,
    threshold: int = 10,
) -> Path:
    """`render` into a file; the format defaults to the file's suffix. Returns the path."""
    out = Path(path)
    fmt = fmt or SUFFIXES.get(out.suffix.lower())
    if fmt is None:
        raise UnknownFormat(out.suffix or str(out), FORMATS)
    data = render(
        definition,
        fmt=fmt,
        patient=patient,
        cohort=cohort,
        no_guards=no_guards,
        suppress=suppress,
        threshold=threshold,
    )
    write(data, out)
    return out


def write(data: bytes | str, path: Path) -> None:
    """Write rendered output (text as UTF-8), creating the folder if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
