"""Synthetic cohorts: TRD stories told as dated facts, walked through the pathway by its guards.

`params` (what a cohort looks like) → `story` (one patient, pure; built on `chart` and
`treatment`) → `cohort` (many, and their counts) → `persistence` (rows, bulk insert); `describe`
words a run. The command is `engine.cli.simulate`.
"""

from engine.simulator.cohort import cumulative_remission, simulate_cohort, summarize
from engine.simulator.describe import describe
from engine.simulator.models import SimulatedPatient
from engine.simulator.params import SimParams
from engine.simulator.persistence import PersistReport, patient_rows, persist, simulate
from engine.simulator.story import simulate_patient

__all__ = [
    "PersistReport",
    "SimParams",
    "SimulatedPatient",
    "cumulative_remission",
    "describe",
    "patient_rows",
    "persist",
    "simulate",
    "simulate_cohort",
    "simulate_patient",
    "summarize",
]
