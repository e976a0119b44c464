"""`assess`: a stateless evaluation of one patient record against a definition, with reasons."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from pathway.catalog import Catalog
from pathway.definition import Definition
from pathway.evaluation import GuardResult, evaluate_state
from pathway.facts import Facts, derive
from pathway.loader import load_definition
from pathway.record import PatientRecord, parse_record
from pathway.results import builder, construct_from
from pathway.staging import Staging
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


_new_assessment = builder(Assessment)
_new_staging, _new_maudsley = builder(StagingResult), builder(MaudsleyResult)


def assess(
    record: PatientRecord | dict[str, Any] | str | Path,
    *,
    definition: Definition | str | Path | None = None,
    as_of: dt.date | None = None,
) -> Assessment:
    """Evaluate a patient record (model, raw mapping or file path) as of a date (default today)."""
    defn = definition if isinstance(definition, Definition) else load_definition(definition)
    catalog = _catalog(defn)
    if isinstance(record, (str, Path)):
        from pathway.record import load_record

        record = load_record(record, catalog=catalog)
    elif isinstance(record, dict):
        record = parse_record(record, catalog=catalog)
    day = as_of or dt.date.today()
    facts = derive(record, as_of=day, params=defn.parameters, catalog=catalog)
    return build(record.id, facts, defn)


def _catalog(defn: Definition) -> Catalog:
    """`defn.catalog`, looked up once per definition (reading a private attribute of a pydantic
    model is slow); a definition's catalog is set when it is loaded and never changes."""
    cache = defn._evaluation_cache
    catalog: Catalog | None = cache.get("catalog")
    if catalog is None:
        catalog = cache["catalog"] = defn.catalog
    return catalog


_REFS: dict[tuple[str, str], DefinitionRef] = {}


def _ref(defn: Definition) -> DefinitionRef:
    """The (frozen, immutable) reference to a definition, shared by its assessments."""
    key = (defn.metadata.id, defn.metadata.version)
    ref = _REFS.get(key)
    if ref is None:
        ref = _REFS[key] = construct_from(DefinitionRef, {"id": key[0], "version": key[1]})
    return ref


def _staging_result(staging: Staging) -> StagingResult:
    """The public part of a staging: an immutable value from a small set, so one object per
    distinct value, shared by every assessment with it."""
    maudsley = staging.maudsley
    key = (maudsley.score, maudsley.band, staging.thase_rush)
    hit = _STAGING_RESULTS.get(key)
    if hit is None:
        hit = _new_staging(
            {
                "maudsley": _new_maudsley({"score": key[0], "band": key[1]}),
                "thase_rush": key[2],
            }
        )
        if len(_STAGING_RESULTS) < 10_000:
            _STAGING_RESULTS[key] = hit
    return hit


_STAGING_RESULTS: dict[tuple[object, ...], StagingResult] = {}


def build(patient_id: str, facts: Facts, defn: Definition) -> Assessment:
    """Assemble the Assessment from derived facts (no validation: values are trusted)."""
    guards, enabled, recommended = evaluate_state(defn, facts, defn.recommendation.state)
    current = facts.current_trial
    # the dict becomes the model's __dict__; keys in field order (model_dump follows it)
    return _new_assessment(
        {
            "patient_id": patient_id,
            "as_of": facts.as_of,
            "definition": _ref(defn),
            "trials": facts.trials,
            "failed_adequate_trials": len(facts.failed_trials),
            "failed_classes": facts.failed_classes,
            "treatment_resistant": facts.treatment_resistant,
            "flags": sorted(facts.flags),
            "bipolar_confirmed": facts.bipolar_confirmed is not None,
            "life_threatening": facts.life_threatening is not None,
            "current_outcome": current.outcome if current else None,
            "staging": _staging_result(facts.staging),
            "enabled": enabled,
            "recommended": recommended,
            "guards": guards,
        },
    )
