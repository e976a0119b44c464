"""Lay one patient's path on the diagram: visited states, numbered moves, overrides, days."""

from __future__ import annotations

from collections import defaultdict

from pathway.definition import Definition
from viz.errors import OverlayMismatch
from viz.graph import taken_from
from viz.model import Diagram, Edge, edge_id
from viz.overlays import OVERRIDE, PatientPath


def overlay_patient(base: Diagram, definition: Definition, path: PatientPath) -> Diagram:
    """The diagram with `path` drawn on it.

    A move by a `*` transition (e.g. `escalate`) is drawn from the state it really left, next to
    the compact edge. An override is drawn as its own edge, with its reason code, even when it
    reused a declared trigger.
    """
    what = f"path of patient {path.patient_id}"
    unknown = sorted({path.current, *path.visited} - set(definition.state_by_id))
    if unknown:
        raise OverlayMismatch(what, [f"state '{s}' is not declared" for s in unknown])

    declared = {(src, t.trigger, t.dest) for src, t in definition.edges}
    drawn = {e.id for e in base.edges}
    after: defaultdict[str, list[Edge]] = defaultdict(list)  # compact edge id → concrete edges
    overrides: list[Edge] = []
    steps: defaultdict[str, list[int]] = defaultdict(list)
    reasons: defaultdict[str, list[str]] = defaultdict(list)
    problems: list[str] = []

    for number, step in enumerate(path.steps, start=1):
        trigger = step.trigger or OVERRIDE
        if step.override:
            eid = edge_id(step.source, trigger, step.dest, override=True)
            if eid not in drawn:
                drawn.add(eid)
                overrides.append(
                    Edge(
                        id=eid,
                        source=step.source,
                        dest=step.dest,
                        trigger=trigger,
                        style="override",
                    )
                )
            steps[eid].append(number)
            reasons[eid].append(step.reason or "no reason code")
            continue
        if (step.source, trigger, step.dest) not in declared:
            problems.append(
                f"step {number} ({step.source} --{trigger}--> {step.dest}) is not a declared "
                "transition; an override must say override=True"
            )
            continue
        eid = edge_id(step.source, trigger, step.dest)
        if eid not in drawn:  # a `*` transition: draw the edge actually taken
            drawn.add(eid)
            compact = next(
                e
                for e in base.edges
                if e.style == "any" and e.trigger == trigger and e.dest == step.dest
            )
            after[compact.id].append(taken_from(compact, step.source))
        steps[eid].append(number)
    if problems:
        raise OverlayMismatch(what, problems)

    edges = [x for e in base.edges for x in (e, *after[e.id])] + overrides
    visited = set(path.visited)
    current = definition.state_by_id[path.current].label
    return base.model_copy(
        update={
            "overlay": "patient",
            "as_of": path.as_of,
            "subtitle": f"Patient {path.patient_id} · as of {path.as_of} · now: {current}",
            "nodes": [
                n.model_copy(
                    update={
                        "visited": n.id in visited,
                        "current": n.id == path.current,
                        "days": path.days.get(n.id),
                    }
                )
                for n in base.nodes
            ],
            "edges": [
                e.model_copy(update={"steps": steps[e.id], "reasons": reasons[e.id]})
                if e.id in steps
                else e
                for e in edges
            ],
            "notes": [
                "#n: the patient's moves in order; bold blue: taken",
                "dashed orange: an override, with its reason code",
                "days: time spent in the state, all visits added up",
            ],
        }
    )
