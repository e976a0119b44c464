"""Procedure courses (rTMS, ECT, esketamine, …) as treatment steps, each with its own outcome."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pathway.record import Procedure
from pathway.trials import Outcome, Scores, TrialRules, step_outcome


@dataclass(frozen=True, slots=True)
class ProcedureAssessment:
    """One procedure course as of a date: its sessions, whether it ended, and its outcome,
    judged from its own start by the rule of a trial's outcome (`pathway.trials.step_outcome`).
    """

    index: int
    kind: str
    start: dt.date
    end: dt.date | None  # None while it goes on (or ends after the as-of date)
    sessions: int
    outcome: Outcome
    outcome_basis: dict[str, Any] | None

    @property
    def ongoing(self) -> bool:
        return self.end is None

    @property
    def drug(self) -> str:
        """The name a reason shows for the step (a trial shows its drug)."""
        return f"the {self.kind} course"


def assess_procedures(
    procedures: list[Procedure], as_of: dt.date, rules: TrialRules, scores: Scores
) -> list[ProcedureAssessment]:
    """Every procedure started on or before the as-of date, in record order."""
    as_of_o = as_of.toordinal()
    out = []
    for i, p in enumerate(procedures):
        if p.start > as_of:
            continue
        end = p.end if p.end is not None and p.end <= as_of else None
        stop_o = end.toordinal() if end is not None else as_of_o
        outcome, basis = step_outcome(
            None, p.start.toordinal(), stop_o, rules, scores, None, end is None
        )
        out.append(ProcedureAssessment(i, p.kind, p.start, end, p.sessions, outcome, basis))
    return out
