"""Golden DOT, Mermaid and JSON files for the TRD definition (UPDATE_GOLDEN=1 rewrites them)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

import viz
from pathway import Definition
from viz import PatientPath

GOLDEN = Path(__file__).parent / "golden"
AS_OF = date(2026, 6, 1)

PATIENT_MOVES = [
    ("initial_trial", "reassess", "reassess"),
    ("reassess", "switch", "switch"),
    ("switch", "reassess", "reassess"),
    ("reassess", "escalate", "neurostimulation"),
    ("neurostimulation", "reassess", "reassess"),
    ("reassess", None, "augment", "PATIENT_PREFERENCE"),
]
PATIENT_DAYS = {
    "initial_trial": 42,
    "reassess": 6,
    "switch": 49,
    "neurostimulation": 35,
    "augment": 20,
}

R = ("initial_trial", "reassess", "reassess")
# a small cohort, as (patients, moves, days): counts of 1..10 appear, so suppression does too
COHORT_ROWS = [
    (14, [R], {"initial_trial": 45, "reassess": 3}),
    (23, [R, ("reassess", "remit", "maintenance")], {"initial_trial": 50, "maintenance": 90}),
    (12, [R, ("reassess", "switch", "switch")], {"initial_trial": 44, "switch": 30}),
    (3, [R, ("reassess", "exit", "exited")], {"initial_trial": 40, "exited": 1}),
    (31, [], {"initial_trial": 20}),
]
COHORT = [
    (moves[-1][2] if moves else "initial_trial", tuple(moves), days)
    for n, moves, days in COHORT_ROWS
    for _ in range(n)
]


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path}; run with UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} differs from its golden file; if the change is intended, rerun with "
        "UPDATE_GOLDEN=1 and review the diff"
    )


@pytest.fixture
def patient(make_path: Callable[..., PatientPath]) -> PatientPath:
    return make_path(PATIENT_MOVES, days=PATIENT_DAYS)


@pytest.mark.parametrize("fmt, suffix", [("dot", "dot"), ("mermaid", "mmd"), ("json", "json")])
def test_plain_diagram_matches_golden(trd: Definition, fmt: str, suffix: str) -> None:
    check_golden(f"trd.{suffix}", str(viz.render(trd, fmt=fmt)))


@pytest.mark.parametrize("fmt, suffix", [("dot", "dot"), ("mermaid", "mmd")])
def test_patient_overlay_matches_golden(
    trd: Definition, patient: PatientPath, fmt: str, suffix: str
) -> None:
    check_golden(f"trd-patient.{suffix}", str(viz.render(trd, fmt=fmt, patient=patient)))


@pytest.mark.parametrize("fmt, suffix", [("dot", "dot"), ("json", "json")])
def test_cohort_overlay_matches_golden(trd: Definition, fmt: str, suffix: str) -> None:
    cohort = viz.aggregate(COHORT, as_of=AS_OF, filters="golden sample")
    check_golden(f"trd-cohort.{suffix}", str(viz.render(trd, fmt=fmt, cohort=cohort)))


def test_no_guards_matches_golden(trd: Definition) -> None:
    check_golden("trd-no-guards.dot", str(viz.render(trd, fmt="dot", no_guards=True)))
