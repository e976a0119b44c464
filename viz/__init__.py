"""viz: pathway definitions (and patient or cohort overlays) drawn as diagrams.

A definition becomes a small frozen diagram model (`build`), written as DOT, Mermaid or JSON
without Graphviz, or as SVG, PNG or PDF through the Graphviz `dot` program. It needs no database
and no state-machine library: a YAML file is enough.
"""

from viz.build import build
from viz.cohort import aggregate
from viz.diff import DefinitionDiff, ItemChange, diff
from viz.errors import GraphvizNotInstalled, OverlayMismatch, RenderFailed, UnknownFormat
from viz.model import Cell, Cluster, Diagram, Edge, Node
from viz.overlays import OVERRIDE, CohortSummary, EdgeKey, PathStep, PatientPath
from viz.render import FORMATS, render, render_diagram, render_to_file

__all__ = [
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
]
