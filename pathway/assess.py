"""`assess`: a stateless evaluation of one patient record against a definition, with reasons."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from pathway.definition import Definition
from pathway.evaluation import GuardResult, enabled_in_order, guard_results, recommend
from pathway.facts import Facts, derive
from pathway.loader import load_definition
from pathway.record import PatientRecord, parse_record
from pathway.results import construct
from pathway.trials import Outcome, TrialAssessment


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, serialize_by_alias=True, populate_by_name=True)


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


def assess(
    record: PatientRecord | dict[str, Any] | str | Path,
    *,
    definition: Definition | str | Path | None = None,
    as_of: dt.date | None = None,
) -> Assessment:
    """Evaluate a patient record (model, raw mapping or file path) as of a date (default today)."""
    defn = definition if isinstance(definition, Definition) else load_definition(definition)
    if isinstance(record, str | Path):
        from pathway.record import load_record

        record = load_record(record, catalog=defn.catalog)
    elif isinstance(record, dict):
        record = parse_record(record, catalog=defn.catalog)
    day = as_of or dt.date.today()
    facts = derive(record, as_of=day, params=defn.parameters, catalog=defn.catalog)
    return build(record.id, facts, defn)


def build(patient_id: str, facts: Facts, defn: Definition) -> Assessment:
    """Assemble the Assessment from derived facts (no validation: values are trusted)."""
    state = defn.recommendation.state
    guards = guard_results(defn, facts, state)
    return construct(
        Assessment,
        patient_id=patient_id,
        as_of=facts.as_of,
        definition=construct(DefinitionRef, id=defn.metadata.id, version=defn.metadata.version),
        trials=facts.trials,
        failed_adequate_trials=len(facts.failed_trials),
        failed_classes=facts.failed_classes,
        treatment_resistant=facts.treatment_resistant,
        flags=sorted(facts.flags),
        bipolar_confirmed=facts.bipolar_confirmed is not None,
        life_threatening=facts.life_threatening is not None,
        current_outcome=facts.current_outcome,
        staging=construct(
            StagingResult,
            maudsley=construct(
                MaudsleyResult, score=facts.staging.maudsley.score, band=facts.staging.maudsley.band
            ),
            thase_rush=facts.staging.thase_rush,
        ),
        enabled=enabled_in_order(defn, facts, guards, state),
        recommended=recommend(defn, facts, guards, state),
        guards=guards,
    )
