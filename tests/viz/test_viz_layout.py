"""The drawn SVG reads: no two labels overlap, and no edge label sits on a state.

Text boxes are estimated from each <text>'s anchor point, font size and length, with a
conservative width per character (Graphviz sizes labels with Helvetica's metrics, whose widest
common glyphs are about 0.6 em wide once capitals and digits are counted); lines of one label are
one box. Node boxes come from the shapes' points.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import date
from itertools import combinations
from pathlib import Path
from typing import NamedTuple

import pytest

import viz
from pathway import Definition
from viz import CohortSummary, PatientPath

SVG = "{http://www.w3.org/2000/svg}"
OLD_TRD = Path(__file__).resolve().parents[2] / "definitions" / "trd-1.0.0.yaml"
EM = 0.6  # width of one character, in font sizes: conservative for Helvetica
ASCENT, DESCENT = 0.8, 0.25  # a line's height above and below its baseline, in font sizes
OWNERS = ("graph", "node", "edge", "cluster")
pytestmark = pytest.mark.usefixtures("needs_dot")


class Box(NamedTuple):
    owner: str
    text: str
    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box) -> bool:
        return (
            self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1
        )


def _text_box(owner: str, t: ET.Element) -> Box:
    size = float(t.get("font-size", "14"))
    text = t.text or ""
    x, y = float(t.get("x", "0")), float(t.get("y", "0"))
    width = EM * size * len(text)
    anchor = t.get("text-anchor", "start")
    x0 = x - width / 2 if anchor == "middle" else x - width if anchor == "end" else x
    return Box(owner, text, x0, y - ASCENT * size, x0 + width, y + DESCENT * size)


def _union(owner: str, boxes: list[Box]) -> Box:
    return Box(
        owner,
        " ".join(b.text for b in boxes),
        min(b.x0 for b in boxes),
        min(b.y0 for b in boxes),
        max(b.x1 for b in boxes),
        max(b.y1 for b in boxes),
    )


def _owned(root: ET.Element) -> Iterator[tuple[str, str, ET.Element]]:
    """(name, class, group) of each node, edge, cluster and the graph itself; the name is the
    id, or for a cluster its title (a cluster may inherit the graph's id)."""
    for g in root.iter(f"{SVG}g"):
        cls = g.get("class", "")
        if cls in OWNERS:
            title = g.findtext(f"{SVG}title", "")
            yield (title if cls == "cluster" else g.get("id", "")), cls, g


def _own(g: ET.Element, tag: str) -> Iterator[ET.Element]:
    """The elements of a group (through tooltip links), not those of the groups inside it."""
    for child in g:
        if child.tag == f"{SVG}{tag}":
            yield child
        elif child.tag in (f"{SVG}a", f"{SVG}g") and child.get("class") not in OWNERS:
            yield from _own(child, tag)


def label_boxes(svg: bytes | str) -> list[Box]:
    """One box per label: the lines of a node's, edge's or cluster's text, the title's lines."""
    out = []
    for gid, cls, g in _owned(ET.fromstring(svg)):
        texts = [t for t in _own(g, "text") if (t.text or "").strip()]
        if not texts:
            continue
        if cls == "graph":  # the title: each line is its own label
            out += [_text_box(gid, t) for t in texts]
        else:
            out.append(_union(gid, [_text_box(gid, t) for t in texts]))
    return out


def node_boxes(svg: bytes | str) -> list[Box]:
    """The bounding box of each node's outline (polygon points or ellipse)."""
    out = []
    for gid, cls, g in _owned(ET.fromstring(svg)):
        if cls != "node":
            continue
        xs: list[float] = []
        ys: list[float] = []
        for shape in [*_own(g, "polygon"), *_own(g, "path"), *_own(g, "ellipse")]:
            if shape.tag in (f"{SVG}polygon", f"{SVG}polyline", f"{SVG}path"):
                nums = [
                    float(v)
                    for v in re.findall(
                        r"-?\d+(?:\.\d+)?", shape.get("points", "") or shape.get("d", "")
                    )
                ]
                xs += nums[0::2]
                ys += nums[1::2]
            elif shape.tag == f"{SVG}ellipse":
                cx, cy = float(shape.get("cx", "0")), float(shape.get("cy", "0"))
                rx, ry = float(shape.get("rx", "0")), float(shape.get("ry", "0"))
                xs += [cx - rx, cx + rx]
                ys += [cy - ry, cy + ry]
        if xs:
            out.append(Box(gid, "", min(xs), min(ys), max(xs), max(ys)))
    return out


def overlaps(svg: bytes | str) -> list[str]:
    """Every pair of labels whose boxes overlap, and every edge label on a node."""
    labels = label_boxes(svg)
    found = [
        f"{a.owner} {a.text!r} overlaps {b.owner} {b.text!r}"
        for a, b in combinations(labels, 2)
        if a.owner != b.owner and a.overlaps(b)
    ]
    edge_labels = [b for b in labels if b.owner.startswith("edge-")]
    found += [
        f"{e.owner} {e.text!r} lies on {n.owner}"
        for e in edge_labels
        for n in node_boxes(svg)
        if e.overlaps(n)
    ]
    return found


def test_the_checker_sees_an_overlap() -> None:
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg"><g id="graph0" class="graph">'
        '<g id="edge-a" class="edge"><text text-anchor="middle" x="100" y="10" font-size="9">'
        'reassess</text></g><g id="edge-b" class="edge"><text text-anchor="start" x="110" '
        'y="14" font-size="9">remit</text></g><g id="edge-c" class="edge"><text x="200" '
        'y="14" font-size="9">far away</text></g></g></svg>'
    )
    assert overlaps(svg) == ["edge-a 'reassess' overlaps edge-b 'remit'"]


T, R = "initial_trial", "reassess"
Step = tuple[str, str | None, str] | tuple[str, str | None, str, bool]
# (patients, moves): every declared move taken, counts big and small, `*` moves and overrides
STORIES: list[tuple[int, list[Step]]] = [
    (140, [(T, R, R), (R, "remit", "maintenance")]),
    (60, [(T, R, R), (R, "switch", "switch"), ("switch", R, R), (R, "augment", "augment")]),
    (45, [(T, R, R), (R, "augment", "augment"), ("augment", R, R), (R, "remit", "maintenance")]),
    (8, [(T, R, R), (R, "review", "differential_review"), ("differential_review", "resolve", R)]),
    (
        3,
        [
            (T, R, R),
            (R, "review", "differential_review"),
            ("differential_review", "exit", "exited"),
        ],
    ),
    (
        25,
        [
            (T, R, R),
            (R, "complete", "complete_trial"),
            ("complete_trial", R, R),
            (R, "exit", "exited"),
        ],
    ),
    (12, [(T, R, R), (R, "optimize", "complete_trial")]),
    (
        30,
        [
            (T, R, R),
            (R, "refer_neurostimulation", "neurostimulation"),
            ("neurostimulation", R, R),
            (R, "continue_course", "neurostimulation"),
        ],
    ),
    (
        15,
        [
            (T, R, R),
            (R, "start_rapid_acting", "rapid_acting"),
            ("rapid_acting", R, R),
            (R, "continue_course", "rapid_acting"),
        ],
    ),
    (5, [(T, R, R), (R, "switch", "switch"), ("switch", "escalate", "neurostimulation")]),
    (20, [(T, "escalate", "neurostimulation")]),
    (12, [(T, R, R), (R, "remit", "maintenance"), ("maintenance", "relapse", R)]),
    (4, [(T, R, R), (R, None, "augment", True)]),
    (22, [(T, R, R), (R, "switch", "switch"), ("switch", None, "maintenance", True)]),
    (50, []),
]


@pytest.fixture
def cohort() -> CohortSummary:
    paths = [
        (moves[-1][2] if moves else T, tuple(moves), {T: 40 + k % 30})
        for n, moves in STORIES
        for k in range(n)
    ]
    return viz.aggregate(paths, as_of=date(2026, 6, 1), filters="every move taken")


def _patient(trd: Definition, make_path: Callable[..., PatientPath]) -> bytes | str:
    """A long path: a `*` move, returns, an override and the current state."""
    moves = [
        (T, R, R),
        (R, "switch", "switch"),
        ("switch", R, R),
        (R, "escalate", "neurostimulation"),
        ("neurostimulation", R, R),
        (R, None, "augment", "PATIENT_PREFERENCE"),
        ("augment", R, R),
        (R, "remit", "maintenance"),
    ]
    days = {T: 42, R: 6, "switch": 49, "neurostimulation": 35, "augment": 20, "maintenance": 9}
    return viz.render(trd, fmt="svg", patient=make_path(moves, days=days))


@pytest.mark.parametrize(
    "overlay",
    ["definition", "no guards", "patient", "cohort", "cohort unsuppressed", "diff"],
)
def test_no_two_labels_overlap(
    trd: Definition,
    make_path: Callable[..., PatientPath],
    cohort: CohortSummary,
    overlay: str,
) -> None:
    draw: dict[str, Callable[[], bytes | str]] = {
        "definition": lambda: viz.render(trd, fmt="svg"),
        "no guards": lambda: viz.render(trd, fmt="svg", no_guards=True),
        "patient": lambda: _patient(trd, make_path),
        "cohort": lambda: viz.render(trd, fmt="svg", cohort=cohort),
        "cohort unsuppressed": lambda: viz.render(trd, fmt="svg", cohort=cohort, suppress=False),
        "diff": lambda: viz.render_diagram(viz.diff(OLD_TRD, trd).diagram, fmt="svg"),
    }
    found = overlaps(draw[overlay]())
    assert not found, "\n".join(found)


def test_bundles_are_drawn_only(trd: Definition, cohort: CohortSummary) -> None:
    """Returns meet at a junction and parallel edges share one arrow in the drawing; the model,
    JSON and Mermaid keep one edge per transition, each with its own count."""
    diagram = viz.build(trd, cohort=cohort)
    ids = {e.id for e in diagram.edges}
    assert {"reassess--complete->complete_trial", "reassess--optimize->complete_trial"} <= ids
    assert diagram.edge("switch--reassess->reassess").traversals is not None
    for fmt in ("json", "mermaid"):
        assert "_returns_" not in str(viz.render_diagram(diagram, fmt=fmt))
    assert '"_returns_reassess"' in str(viz.render_diagram(diagram, fmt="dot"))
