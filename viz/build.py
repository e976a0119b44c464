"""Build the diagram model from a definition, then lay an optional overlay on it."""

from __future__ import annotations

from pathway.definition import Definition
from viz.cohort_overlay import overlay_cohort
from viz.graph import base_nodes, clusters, declared_edges
from viz.model import Diagram
from viz.overlays import CohortSummary, PatientPath
from viz.patient_overlay import overlay_patient


def build(
    definition: Definition,
    *,
    patient: PatientPath | None = None,
    cohort: CohortSummary | None = None,
    no_guards: bool = False,
    suppress: bool = True,
    threshold: int = 10,
) -> Diagram:
    """The diagram of a definition, with at most one overlay (a patient's path or a cohort)."""
    meta = definition.metadata
    base = Diagram(
        definition_id=meta.id,
        definition_version=meta.version,
        title=f"{meta.title} ({meta.id} {meta.version})",
        nodes=base_nodes(definition),
        edges=declared_edges(definition, no_guards=no_guards),
        clusters=clusters(definition),
    )
    if patient is not None and cohort is not None:
        raise ValueError("draw one overlay at a time: a patient's path or a cohort, not both")
    if patient is not None:
        return overlay_patient(base, definition, patient)
    if cohort is not None:
        limit = threshold if suppress else 0
        return overlay_cohort(base, definition, cohort, threshold=limit)
    return base
