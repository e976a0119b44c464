"""Staging of treatment resistance: Maudsley Staging Method and Thase–Rush (reference.md §3)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from pathway.catalog import Catalog
from pathway.parameters import Parameters
from pathway.procedures import ProcedureAssessment
from pathway.record import PatientRecord
from pathway.results import builder
from pathway.trials import TrialAssessment

_BANDS: tuple[Literal["mild", "moderate", "severe"], ...] = ("mild", "moderate", "severe")


class Maudsley(BaseModel):
    """MSM total (3–15) and band; `None` when the episode start or severity is unknown."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    score: int | None
    band: Literal["mild", "moderate", "severe"] | None
    duration: int | None
    severity: int | None
    treatment: int


class Staging(BaseModel):
    """Both staging models side by side."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    maudsley: Maudsley
    thase_rush: Literal["0", "I", "II", "III", "IV", "V"] | None

    def public(self) -> dict[str, object]:
        return {
            "maudsley": {"score": self.maudsley.score, "band": self.maudsley.band},
            "thase_rush": self.thase_rush,
        }


_new_staging, _new_maudsley = builder(Staging), builder(Maudsley)


def _bucket(value: float, upper_bounds: list[int]) -> int:
    """1-based index of the first bound >= value; len+1 past the last."""
    for i, bound in enumerate(upper_bounds):
        if value <= bound:
            return i + 1
    return len(upper_bounds) + 1


def _severity(
    record: PatientRecord, catalog: Catalog, as_of: dt.date, params: Parameters
) -> int | None:
    points = params.maudsley_severity_points.value
    if record.severity is not None:
        return points[record.severity]
    first = min((t.start for t in record.trials), default=None)
    for inst in params.instrument_preference.value:  # baseline band: the first score of the episode
        scores = sorted(
            (m.date, m.score)
            for m in record.measurements
            if m.instrument == inst and m.date <= as_of
        )
        if not scores:
            continue
        if first is not None:
            before = [s for s in scores if s[0] <= first]
            pick = before[-1] if before else scores[0]
        else:
            pick = scores[0]
        for band in catalog.instrument_by_name[inst].bands:
            if band.min <= pick[1] <= band.max:
                return points[band.severity]
    return None


def stage(
    record: PatientRecord,
    *,
    trials: list[TrialAssessment],
    failed: list[TrialAssessment],
    as_of: dt.date,
    params: Parameters,
    catalog: Catalog,
    procedures: Sequence[ProcedureAssessment] = (),
) -> Staging:
    """Stage a patient as of a date (`procedures`: the courses assessed as of that date)."""
    duration = None
    start = record.episode_start
    if start is not None:
        months = (
            (as_of.year - start.year) * 12 + (as_of.month - start.month) - (as_of.day < start.day)
        )
        duration = _bucket(max(months, 0), params.maudsley_duration_months.value)
    severity = _severity(record, catalog, as_of, params)
    n_failed = len(failed)
    treatment = _bucket(n_failed, params.maudsley_failed_antidepressants.value)
    extra = params.maudsley_treatment_points.value
    if any(t.role == "augmentation" for t in trials):
        treatment += extra.augmentation
    used = {p.kind for p in record.procedures if p.start <= as_of}
    treatment += sum(points for kind, points in extra.procedures.items() if kind in used)
    score = None if duration is None or severity is None else duration + severity + treatment
    band = None
    if score is not None:
        band = _BANDS[_bucket(score, params.maudsley_bands.value) - 1]
    key = (
        score,
        band,
        duration,
        severity,
        treatment,
        _thase_rush(trials, failed, procedures, params),
    )
    staging = _STAGINGS.get(key)
    if staging is None:
        staging = _new_staging(
            {
                "maudsley": _new_maudsley(
                    {
                        "score": score,
                        "band": band,
                        "duration": duration,
                        "severity": severity,
                        "treatment": treatment,
                    },
                ),
                "thase_rush": key[-1],
            },
        )
        if len(_STAGINGS) < 10_000:
            _STAGINGS[key] = staging
    return staging


# A staging is an immutable value (frozen, of numbers and names) from a small set: one object per
# distinct staging, shared by every patient staged alike.
_STAGINGS: dict[tuple[object, ...], Staging] = {}


def _thase_rush(
    trials: list[TrialAssessment],
    failed: list[TrialAssessment],
    procedures: Sequence[ProcedureAssessment],
    params: Parameters,
) -> Literal["0", "I", "II", "III", "IV", "V"] | None:
    if not failed:
        for t in trials:  # any adequate antidepressant trial that worked (a relapse came later)
            if (
                t.role == "antidepressant"
                and t.status == "adequate"
                and t.outcome in ("response", "remission", "relapsed")
            ):
                return "0"
        return None
    classes = {t.drug_class for t in failed}
    if len(classes) < 2:
        return "I"
    # Each stage adds to the one before: III is stage II (two classes besides the TCA) plus a
    # failed TCA, so an SSRI and a TCA alone are stage II; IV adds an MAOI; V an ECT course
    # (the classes and the procedure are the definition's `thase_rush_stages`).
    stages = params.thase_rush_stages.value
    iii, iv = stages.stage_iii_class, stages.stage_iv_class
    if iii not in classes or len(classes - {iii}) < 2:
        return "II"
    if iv not in classes or len(classes - {iii, iv}) < 2:
        return "III"
    kind = stages.stage_v_procedure  # V: a *failed* course (an ended one, fall < 50%)
    failed_course = any(
        p.kind == kind and p.end is not None and p.outcome in ("none", "partial")
        for p in procedures
    )
    return "V" if failed_course else "IV"
