"""The named, sourced parameters of a definition: every clinical number lives in the YAML."""

from __future__ import annotations

from typing import Generic, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pathway.record import (
    ContributorKind,
    MeasurementInstrument,
    ProcedureKind,
    Severity,
    StopReason,
)
from pathway.yamlio import Problem, located

T = TypeVar("T")
Instrument = Literal["PHQ-9", "QIDS-SR16", "HAM-D17", "MADRS"]


class Param(BaseModel, Generic[T]):
    """A value with the public source it comes from; `verified: false` if the source is weak."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    value: T
    source: str = Field(min_length=1)
    verified: bool = True
    unit: str | None = None
    note: str | None = None
    # an optional declared range for a number: `validate` refuses a value outside it
    min: float | None = None
    max: float | None = None


class MDQRule(BaseModel):
    """What makes an MDQ positive."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    min_score: int = Field(ge=0)
    require_same_period: bool
    impairment: list[Literal["none", "minor", "moderate", "serious"]]


class BySex(BaseModel):
    """A cut-off that differs for men and everyone else."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    male: float = Field(gt=0)
    other: float = Field(gt=0)


class Range(BaseModel):
    """A closed reference range."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        return self


Fraction = float
# Ranges every definition's numbers must respect, whatever the YAML declares (a negative number
# of weeks or days, or zero failed trials, would silently change who is called resistant).
RANGES: dict[str, tuple[float, float]] = {
    "min_weeks_at_adequate_dose": (1, 52),
    "min_weeks_augmentation": (1, 52),
    "trd_min_failed_trials": (1, 10),
    "neurostimulation_after_failed_trials": (1, 20),
    "baseline_lookback_days": (0, 365),
    "baseline_grace_days": (0, 365),
    "min_days_to_outcome": (0, 365),
    "decision_pending_days": (0, 365),
    "measurement_overdue_days": (1, 365),
    "maintenance_followup_days": (1, 730),
}


class EarlyImprovement(BaseModel):
    """Early improvement: a fall of at least `reduction` by `weeks` at an effective dose (a
    procedure course: once an outcome can be judged, `min_days_to_outcome` after its start)."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    weeks: float = Field(gt=0)
    reduction: float = Field(ge=0, le=1)


class OlderAdultLevel(BaseModel):
    """A lower adequate serum level from an age on."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    from_age: int = Field(gt=0)
    min_serum_mmol_l: float = Field(gt=0)


Outcome = Literal["remission", "relapsed", "response", "partial", "none", "unknown"]
Flag = Literal[
    "active_stressor",
    "bipolar_features",
    "incomplete_trial",
    "medical_contributor",
    "substance_use",
]
# what a risk assessment records: active suicidality (`suicidality: active`), or a feature flag
RiskFeature = Literal[
    "active_suicidality", "psychotic_features", "catatonia", "not_eating_or_drinking"
]


class ScreenRule(BaseModel):
    """A screen that raises a flag at or above a cut-off parameter, unless a contributor entry
    of the kind it screens for clears it (addressed or ruled out on or after the screen)."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    flag: Flag
    cleared_by: ContributorKind
    cutoff: str = Field(description="the name of the cut-off parameter")


class ThaseRushStages(BaseModel):
    """What each Thase–Rush stage above II adds: a failed trial of a class (III, IV), then a
    completed procedure course (V)."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    stage_iii_class: str
    stage_iv_class: str
    stage_v_procedure: ProcedureKind


class MaudsleyTreatment(BaseModel):
    """Points the Maudsley treatment dimension adds beyond the failed antidepressants: for an
    augmentation used, and for each kind of procedure used."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    augmentation: int = Field(ge=0)
    procedures: dict[ProcedureKind, int]


class Parameters(BaseModel):
    """Every number the generic predicates use. All are required: the YAML cites each one."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    # trial adequacy
    min_weeks_at_adequate_dose: Param[float]
    min_weeks_augmentation: Param[float]
    min_adherence: Param[Fraction]
    # outcome
    response_reduction: Param[Fraction]
    partial_reduction: Param[Fraction]
    baseline_lookback_days: Param[int]
    baseline_grace_days: Param[int]
    min_days_to_outcome: Param[int]
    remission_max: Param[dict[Instrument, int]]
    relapse_min: Param[dict[Instrument, int]]
    # the instruments a step's outcome (and a Maudsley baseline severity) is read from, in order
    instrument_preference: Param[list[MeasurementInstrument]]
    # the outcome a stop reason stands for when there are no scores to judge by
    stop_reason_outcomes: Param[dict[StopReason, Outcome]]
    # resistance
    trd_min_failed_trials: Param[int]
    trd_require_distinct_classes: Param[bool]
    # recommendation (1.1): neuromodulation once this many adequate trials failed
    neurostimulation_after_failed_trials: Param[int] | None = None
    # augmentation by serum level (1.1): a lower minimum in older adults
    serum_level_older_adults: Param[OlderAdultLevel] | None = None
    # differential: which past periods (record `history` items) raise `bipolar_features`
    bipolar_history_features: Param[
        list[Literal["elevated_mood", "decreased_need_for_sleep", "racing_thoughts", "impulsivity"]]
    ]
    # risk: what makes depression life-threatening
    life_threatening_features: Param[list[RiskFeature]]
    # differential: which contributor raises which flag, which lab points to which contributor
    # (a lab out of range raises `medical_contributor`), which screen raises which flag
    contributor_flags: Param[dict[ContributorKind, Flag]]
    lab_contributors: Param[dict[Literal["TSH", "vitamin_d_25oh", "hemoglobin"], ContributorKind]]
    screen_flags: Param[dict[Literal["STOP-Bang", "AUDIT-C", "CUDIT-R"], ScreenRule]]
    # citations: the section of the source article each flag's evidence cites ("<source>:
    # <section>"); the verdicts the article supports without a section cite its source alone
    article_sections: Param[dict[Flag, str]]
    # differential screens and labs
    tsh_normal: Param[Range]
    vitamin_d_deficient_below: Param[dict[Literal["ng/mL", "nmol/L"], float]]
    hemoglobin_low_below_g_dl: Param[BySex]
    mdq_positive: Param[MDQRule]
    stop_bang_positive_min: Param[int]
    audit_c_positive_min: Param[BySex]
    cudit_r_positive_min: Param[int]
    # procedures
    course_complete_sessions: Param[
        dict[Literal["rTMS", "iTBS", "accelerated_iTBS", "ECT", "esketamine", "IV_ketamine"], int]
    ]
    # staging
    maudsley_duration_months: Param[list[int]]
    maudsley_failed_antidepressants: Param[list[int]]
    maudsley_bands: Param[list[int]]
    maudsley_severity_points: Param[dict[Severity, int]]
    maudsley_treatment_points: Param[MaudsleyTreatment]
    thase_rush_stages: Param[ThaseRushStages]
    # worklist (engine)
    decision_pending_days: Param[int]
    measurement_overdue_days: Param[int]
    maintenance_followup_days: Param[int]
    # "not improving" (1.1): no early improvement at an effective dose
    early_improvement: Param[EarlyImprovement] | None = None
    # "not improving" (1.0 only): less than a fall of `reduction` at 8–12 weeks
    not_improving_weeks: Param[Range] | None = None
    not_improving_reduction: Param[Fraction] | None = None

    @model_validator(mode="after")
    def _sane(self) -> Parameters:
        problems: list[Problem] = []
        for name in (
            "min_adherence",
            "response_reduction",
            "partial_reduction",
            "not_improving_reduction",
        ):
            param = getattr(self, name)
            if param is None:
                continue
            v = param.value
            if not 0 <= v <= 1:
                problems.append(((name, "value"), "must be a fraction 0–1", v))
        for name in type(self).model_fields:
            p = getattr(self, name)
            if p is None:  # a parameter of another version of the definition
                continue
            lo, hi = RANGES.get(name, (None, None))
            lo = p.min if p.min is not None else lo
            hi = p.max if p.max is not None else hi
            v = p.value
            if isinstance(v, bool) or not isinstance(v, int | float):
                continue
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                span = f"{'-∞' if lo is None else f'{lo:g}'}–{'∞' if hi is None else f'{hi:g}'}"
                problems.append(((name, "value"), f"must be within {span}", v))
        for screen, rule in self.screen_flags.value.items():
            if not isinstance(getattr(self, rule.cutoff, None), Param):
                problems.append(
                    (
                        ("screen_flags", "value", screen, "cutoff"),
                        "must name a cut-off parameter of this definition",
                        rule.cutoff,
                    )
                )
        sections = self.article_sections.value
        for flag in get_args(Flag):
            if not sections.get(flag, "").strip():
                problems.append(
                    (
                        ("article_sections", "value", flag),
                        "must name the section of the source article this flag cites",
                        sections.get(flag),
                    )
                )
        if self.partial_reduction.value > self.response_reduction.value:
            problems.append(
                (
                    ("partial_reduction", "value"),
                    "must not exceed response_reduction",
                    self.partial_reduction.value,
                )
            )
        if problems:
            raise located(problems)
        return self

    def unverified(self) -> list[tuple[str, Param[object]]]:
        """Parameters whose source the reference marks UNVERIFIED."""
        out: list[tuple[str, Param[object]]] = []
        for name in type(self).model_fields:
            p = getattr(self, name)
            if p is not None and not p.verified:
                out.append((name, p))
        return out
