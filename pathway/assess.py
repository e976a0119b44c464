"""`assess`: a stateless evaluation of one patient record against a definition, with reasons."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from pathway.compiled import CompiledDefinition
from pathway.definition import Definition
from pathway.evaluation import GuardResult, decide
from pathway.facts import Facts, derive
from pathway.loader import load_definition
from pathway.procedures import ProcedureAssessment
from pathway.record import PatientRecord, parse_record
from pathway.results import builder
from pathway.staging import Staging
from pathway.trials import Outcome, TrialAssessment


class _Out(BaseModel):
    model_config = ConfigDict(
        defer_build=True, frozen=True, serialize_by_alias=True, populate_by_name=True
    )


class DefinitionRef(_Out):
    """Which definition (id, version) a result was computed with."""

    id: str
    version: str


TrialResult = TrialAssessment


class MaudsleyResult(_Out):
    """Maudsley Staging Method total and band (null when duration or severity is unknown)."""

    score: int | None
    band: Literal["mild", "moderate", "severe"] | None


class StagingResult(_Out):
    """Both staging models."""

    maudsley: MaudsleyResult
    thase_rush: str | None


class ProcedureResult(_Out):
    """One procedure course as a step: sessions, end (null while it goes on) and outcome."""

    index: int
    kind: str
    start: dt.date
    end: dt.date | None
    sessions: int
    outcome: Outcome
    outcome_basis: dict[str, Any] | None


class StepRef(_Out):
    """Which step `current_outcome` belongs to: a trial or a procedure, by input index."""

    kind: Literal["trial", "procedure"]
    index: int


class Assessment(_Out):
    """The result of `assess`; `model_dump(mode='json')` is the documented JSON object."""

    patient_id: str
    as_of: dt.date
    definition: DefinitionRef
    trials: list[TrialResult]
    failed_adequate_trials: int
    failed_classes: list[str]
    treatment_resistant: bool
    flags: list[str]
    bipolar_confirmed: bool
    life_threatening: bool
    current_outcome: Outcome | None
    staging: StagingResult
    enabled: list[str]
    recommended: str | None
    guards: list[GuardResult]
    procedures: list[ProcedureResult]
    current_step: StepRef | None
    warnings: list[str]


_new_assessment = builder(Assessment)
_new_procedure, _new_step = builder(ProcedureResult), builder(StepRef)
_new_staging, _new_maudsley = builder(StagingResult), builder(MaudsleyResult)


def assess(
    record: PatientRecord | dict[str, Any] | str | Path,
    *,
    definition: Definition | str | Path | None = None,
    as_of: dt.date | None = None,
) -> Assessment:
    """Evaluate a patient record (model, raw mapping or file path) as of a date (default today)."""
    defn = definition if isinstance(definition, Definition) else load_definition(definition)
    setup = defn.compiled
    if isinstance(record, (str, Path)):
        from pathway.record import load_record

        record = load_record(record, catalog=setup.catalog)
    elif isinstance(record, dict):
        record = parse_record(record, catalog=setup.catalog)
    day = as_of or dt.date.today()
    facts = derive(
        record, as_of=day, params=setup.parameters, catalog=setup.catalog, rules=setup.rules
    )
    # the facts go no further
    return _build(record.id, facts, defn, setup, remember=False, warnings=ignored(record, day))


def ignored(record: PatientRecord, as_of: dt.date) -> list[str]:
    """What an evaluation as of a date leaves out: every entry dated after it, by its place."""
    out: list[str] = []
    day = as_of.isoformat()

    def later(where: str, date: dt.date | None, what: str = "dated") -> None:
        if date is not None and date > as_of:
            out.append(f"{where} {what} {date.isoformat()}, after the as-of date {day}: ignored")

    for i, t in enumerate(record.trials):
        later(f"trials[{i}]", t.start, "starts")
        if t.start <= as_of:
            for j, d in enumerate(t.doses):
                later(f"trials[{i}].doses[{j}]", d.start, "starts")
            later(f"trials[{i}].end", t.end, "is")
    for name in ("measurements", "screens", "labs", "contributors"):
        for i, e in enumerate(getattr(record, name)):
            later(f"{name}[{i}]", e.date)
    if record.risk is not None:
        later("risk", record.risk.date)
    for i, p in enumerate(record.procedures):
        later(f"procedures[{i}]", p.start, "starts")
        if p.start <= as_of:
            later(f"procedures[{i}].end", p.end, "is")
    return out


def _staging_result(staging: Staging, results: dict[int, tuple[object, Any]]) -> StagingResult:
    """The public part of a staging; like stagings (see `pathway.staging`), an immutable value
    from a small set: one object per distinct staging, shared by every assessment of a
    definition with it (`results`: the definition's, in its compiled form)."""
    hit = results.get(id(staging))
    if hit is None:
        maudsley = staging.maudsley
        result = _new_staging(
            {
                "maudsley": _new_maudsley({"score": maudsley.score, "band": maudsley.band}),
                "thase_rush": staging.thase_rush,
            }
        )
        if len(results) >= 10_000:
            return result
        # the staging is kept alive with its result, so its id is never reused for another
        hit = results[id(staging)] = (staging, result)
    found: StagingResult = hit[1]
    return found


def build(
    patient_id: str, facts: Facts, defn: Definition, warnings: list[str] | None = None
) -> Assessment:
    """Assemble the Assessment from derived facts (no validation: values are trusted)."""
    return _build(patient_id, facts, defn, defn.compiled, remember=True, warnings=warnings or [])


def _procedure_result(p: ProcedureAssessment) -> ProcedureResult:
    return _new_procedure(
        {
            "index": p.index,
            "kind": p.kind,
            "start": p.start,
            "end": p.end,
            "sessions": p.sessions,
            "outcome": p.outcome,
            "outcome_basis": p.outcome_basis,
        }
    )


def _build(
    patient_id: str,
    facts: Facts,
    defn: Definition,
    setup: CompiledDefinition,
    *,
    remember: bool,
    warnings: list[str],
) -> Assessment:
    guards, enabled, recommended = decide(defn, facts, setup.decision_state, remember=remember)
    step = facts.current_step
    step_ref = None
    if step is not None:
        kind = "procedure" if isinstance(step, ProcedureAssessment) else "trial"
        step_ref = _new_step({"kind": kind, "index": step.index})
    # the dict becomes the model's __dict__; keys in field order (model_dump follows it)
    return _new_assessment(
        {
            "patient_id": patient_id,
            "as_of": facts.as_of,
            "definition": setup.ref,
            "trials": facts.trials,
            "failed_adequate_trials": len(facts.failed_trials),
            "failed_classes": facts.failed_classes,
            "treatment_resistant": facts.treatment_resistant,
            "flags": sorted(facts.flags),
            "bipolar_confirmed": facts.bipolar_confirmed is not None,
            "life_threatening": facts.life_threatening is not None,
            "current_outcome": step.outcome if step else None,
            "staging": _staging_result(facts.staging, setup.staging_results),
            "enabled": enabled,
            "recommended": recommended,
            "guards": guards,
            "procedures": [_procedure_result(p) for p in facts.procedures],
            "current_step": step_ref,
            "warnings": warnings,
        },
    )
