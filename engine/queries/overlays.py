"""Overlay data for `viz` from the engine: one patient's path, and a cohort's counts in SQL.

`patient_path(svc, id, as_of=…)` and `cohort_summary(svc, as_of=…, state=…, definition_id=…,
definition_version=…, since=…, until=…)` return `viz.PatientPath` and `viz.CohortSummary`
(frozen models) for `viz.render(definition, patient=…)` / `viz.render(definition, cohort=…)`.
What each filter means: `engine.queries.overlay_cohort`. The optional counters that make the
unfiltered summary cheap at any size: `engine.store.overlay_rollup`.
"""

from engine.queries.overlay_cohort import InvalidWindow, cohort_overlay, cohort_summary
from engine.queries.overlay_path import NotEnrolledYet, patient_path

__all__ = [
    "InvalidWindow",
    "NotEnrolledYet",
    "cohort_overlay",
    "cohort_summary",
    "patient_path",
]
