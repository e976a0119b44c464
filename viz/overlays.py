"""Overlay inputs: one patient's path and a cohort summary, as the engine (or a test) supplies them.

Both are plain frozen models with no link to a database; `viz.cohort.aggregate` builds a
`CohortSummary` from paths.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, NonNegativeInt, field_serializer, model_validator

EdgeKey = tuple[str, str, str]
"""(from state, trigger, to state). An override that named no trigger uses `OVERRIDE`."""

OVERRIDE = "override"
"""The trigger recorded for an override that named no declared trigger."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PathStep(_Frozen):
    """One move of a patient, in the order taken.

    `trigger` is the declared trigger used, or None for an override that forced a state.
    `override` is true when the move was taken by a clinician's override (guard not true, or no
    declared transition at all); `reason` is its reason code.
    """

    source: str
    dest: str
    trigger: str | None
    effective: date
    override: bool = False
    reason: str | None = None

    @property
    def key(self) -> EdgeKey:
        return (self.source, self.trigger or OVERRIDE, self.dest)


class PatientPath(_Frozen):
    """One patient's way through a definition up to `as_of`.

    `steps` are in the order taken (each starts where the previous ended, the last ends in
    `current`); `days` is the number of days spent in each state visited, all visits added up,
    the current state counted to `as_of`.
    """

    patient_id: str
    as_of: date
    current: str
    steps: list[PathStep] = []
    days: dict[str, NonNegativeInt] = {}

    @model_validator(mode="after")
    def _chained(self) -> PatientPath:
        problems = [
            f"step {i + 2} leaves '{b.source}' but step {i + 1} ended in '{a.dest}'"
            for i, (a, b) in enumerate(zip(self.steps, self.steps[1:], strict=False))
            if a.dest != b.source
        ]
        if self.steps and self.steps[-1].dest != self.current:
            problems.append(
                f"the last step ends in '{self.steps[-1].dest}' but current is '{self.current}'"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def start(self) -> str:
        """The state the path began in."""
        return self.steps[0].source if self.steps else self.current

    @property
    def visited(self) -> list[str]:
        """States visited, in first-visit order."""
        return list(dict.fromkeys([self.start, *(s.dest for s in self.steps)]))


class CohortSummary(_Frozen):
    """Counts over a group of patients on one definition version, as of a date.

    - `patients`: patients whose current state is each state (every patient counted once).
    - `starts`: patients whose path began in each state (usually all in the initial state).
    - `traversals`: moves per edge, keyed by (from, trigger, to); a patient who takes an edge
      twice counts twice. Overrides are included here and also counted in `overrides`.
    - `median_days`: with `median_over` "patients" (the default), the median days in each
      state over the patients who were ever in it (each patient's visits added up, the current
      state counted to `as_of`); with "stays_ended" (a cohort counted over a date window), the
      median length of the stays in the state that ended in the window, each from the day it
      was entered (before the window, possibly) to the day it was left (a move back into the
      same state does not end a stay). `visited` is how many patients, or stays, it is over.
    - `filters`: a human description of how the cohort was chosen (printed under the title).
    """

    as_of: date
    filters: str = ""
    patients: dict[str, NonNegativeInt]
    starts: dict[str, NonNegativeInt] = {}
    traversals: dict[EdgeKey, NonNegativeInt] = {}
    overrides: dict[EdgeKey, NonNegativeInt] = {}
    median_days: dict[str, float] = {}
    visited: dict[str, NonNegativeInt] = {}
    median_over: Literal["patients", "stays_ended"] = "patients"

    @model_validator(mode="before")
    @classmethod
    def _keys_from_json(cls, data: Any) -> Any:
        """Accept edge keys written as "from|trigger|to" strings or [from, trigger, to] lists."""
        if isinstance(data, dict):
            data = dict(data)
            for name in ("traversals", "overrides"):
                value = data.get(name)
                if isinstance(value, list):
                    data[name] = {(r["from"], r["trigger"], r["to"]): r["count"] for r in value}
                elif isinstance(value, dict):
                    data[name] = {
                        tuple(k.split("|")) if isinstance(k, str) else k: v
                        for k, v in value.items()
                    }
        return data

    @field_serializer("traversals", "overrides")
    def _keys_to_json(self, value: dict[EdgeKey, int]) -> list[dict[str, Any]]:
        return [{"from": k[0], "trigger": k[1], "to": k[2], "count": n} for k, n in value.items()]

    @property
    def total(self) -> int:
        """Patients in the cohort."""
        return sum(self.patients.values())
