"""The patient record: the interchange format of `shared/spec/patient-record.md` as pydantic models.

Unknown keys are errors, every violation is reported at once, and drug names are resolved to the
catalog's generic name (an unknown one gets a did-you-mean).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pathway.catalog import Catalog, default_catalog
from pathway.errors import RecordError
from pathway.yamlio import issues_from, read_data

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        raise ValueError("expected a date YYYY-MM-DD, not a date-time")
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str) and _ISO.match(v):
        return v
    raise ValueError("expected a date YYYY-MM-DD")


Date = Annotated[dt.date, BeforeValidator(_iso_date)]
Sex = Literal["female", "male", "other", "unknown"]
Severity = Literal["subsyndromal", "mild", "moderate", "severe", "severe_psychotic"]
TrialRole = Literal["antidepressant", "augmentation"]
StopReason = Literal[
    "no_response", "partial_response", "side_effects", "remission", "patient_choice", "other"
]
MeasurementInstrument = Literal["PHQ-9", "QIDS-SR16", "HAM-D17", "MADRS"]
ContributorKind = Literal[
    "bipolar_disorder", "hypothyroidism", "sleep_apnea", "vitamin_d_deficiency", "anemia",
    "chronic_pain", "other_medical", "alcohol_use", "cannabis_use", "other_substance_use",
    "stressor",
]
ContributorStatus = Literal["suspected", "active", "confirmed", "addressed", "ruled_out"]
ProcedureKind = Literal["rTMS", "iTBS", "accelerated_iTBS", "ECT", "esketamine", "IV_ketamine"]
LAB_UNITS: dict[str, tuple[str, ...]] = {
    "TSH": ("mIU/L",),
    "vitamin_d_25oh": ("ng/mL", "nmol/L"),
    "hemoglobin": ("g/dL", "g/L"),
}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _catalog(info: ValidationInfo) -> Catalog:
    ctx = info.context or {}
    cat = ctx.get("catalog")
    return cat if isinstance(cat, Catalog) else default_catalog()


def _check_score(instrument: str, score: int, info: ValidationInfo) -> int:
    inst = _catalog(info).instrument_by_name.get(instrument)
    if inst is not None and not inst.range[0] <= score <= inst.range[1]:
        lo, hi = inst.range
        raise ValueError(f"{instrument} score must be {lo}–{hi}, got {score}")
    return score


class Dose(_Model):
    """A daily dose held from `from` until the next dose, the trial's end or the as-of date."""

    start: Date = Field(alias="from")
    mg_per_day: float = Field(gt=0, allow_inf_nan=False)


class Trial(_Model):
    """One medication trial in the current episode."""

    drug: str
    role: TrialRole = "antidepressant"
    start: Date
    end: Date | None = None
    doses: list[Dose] = Field(min_length=1)
    adherence: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    stop_reason: StopReason | None = None
    serum_level: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    @field_validator("drug")
    @classmethod
    def _known_drug(cls, v: str, info: ValidationInfo) -> str:
        cat = _catalog(info)
        drug = cat.drug(v)
        if drug is None:
            hint = cat.suggest(v)
            more = f" (did you mean {', '.join(repr(h) for h in hint)}?)" if hint else ""
            raise ValueError(f"unknown drug '{v}'{more}")
        return drug.name

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Trial:
        problems: list[str] = []
        drug = _catalog(info).drug(self.drug)
        if drug is not None and self.role == "antidepressant" and drug.min_adequate_mg is None:
            problems.append(
                f"{self.drug} is an augmentation agent, not an antidepressant: "
                "set role: augmentation"
            )
        if self.end is not None and self.end < self.start:
            problems.append(f"end {self.end} is before start {self.start}")
        first = self.doses[0].start
        if first != self.start:
            problems.append(f"the first dose starts {first}, not on the trial start {self.start}")
        for a, b in zip(self.doses, self.doses[1:], strict=False):
            if b.start <= a.start:
                problems.append(f"dose dates must increase: {b.start} follows {a.start}")
        if self.end is not None and self.doses[-1].start > self.end:
            problems.append(f"a dose starts {self.doses[-1].start}, after the end {self.end}")
        if self.stop_reason is not None and self.end is None:
            problems.append(f"stop_reason '{self.stop_reason}' given but the trial has no end")
        if self.serum_level is not None and self.drug != "lithium":
            problems.append("serum_level is recorded for lithium only")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Measurement(_Model):
    """A depression rating-scale total."""

    date: Date
    instrument: MeasurementInstrument
    score: StrictInt

    @model_validator(mode="after")
    def _in_range(self, info: ValidationInfo) -> Measurement:
        _check_score(self.instrument, self.score, info)
        return self


class _Screen(_Model):
    date: Date
    score: StrictInt

    @model_validator(mode="after")
    def _in_range(self, info: ValidationInfo) -> _Screen:
        _check_score(getattr(self, "instrument", ""), self.score, info)
        return self


class MDQScreen(_Screen):
    """Mood Disorder Questionnaire (bipolar screen)."""

    instrument: Literal["MDQ"]
    same_period: StrictBool
    impairment: Literal["none", "minor", "moderate", "serious"]


class ScoreScreen(_Screen):
    """A screen that is a single score: STOP-Bang, AUDIT-C, CUDIT-R."""

    instrument: Literal["STOP-Bang", "AUDIT-C", "CUDIT-R"]


def _screen_tag(v: Any) -> str | None:
    inst = v.get("instrument") if isinstance(v, dict) else getattr(v, "instrument", None)
    if inst == "MDQ":
        return "MDQ"
    return "score" if inst in ("STOP-Bang", "AUDIT-C", "CUDIT-R") else None


Screen = Annotated[
    Annotated[MDQScreen, Tag("MDQ")] | Annotated[ScoreScreen, Tag("score")],
    Discriminator(
        _screen_tag,
        custom_error_type="unknown_screen",
        custom_error_message="instrument must be one of MDQ, STOP-Bang, AUDIT-C, CUDIT-R",
    ),
]


class Lab(_Model):
    """A laboratory result."""

    date: Date
    test: Literal["TSH", "vitamin_d_25oh", "hemoglobin"]
    value: float = Field(ge=0, allow_inf_nan=False)
    unit: str

    @model_validator(mode="after")
    def _unit_fits(self) -> Lab:
        units = LAB_UNITS[self.test]
        if self.unit not in units:
            raise ValueError(f"unit '{self.unit}' does not fit {self.test}; use {' or '.join(units)}")
        return self


class History(_Model):
    """Past periods suggesting bipolarity (even ones that felt good)."""

    elevated_mood: StrictBool = False
    decreased_need_for_sleep: StrictBool = False
    racing_thoughts: StrictBool = False
    impulsivity: StrictBool = False


class Contributor(_Model):
    """One entry of the contributor log; per kind, the latest entry is the current status."""

    kind: ContributorKind
    status: ContributorStatus
    date: Date
    note: str | None = Field(default=None, max_length=500)


class Risk(_Model):
    """The latest risk assessment."""

    date: Date
    suicidality: Literal["none", "passive", "active"]
    psychotic_features: StrictBool = False
    catatonia: StrictBool = False
    not_eating_or_drinking: StrictBool = False


class Procedure(_Model):
    """A neurostimulation or rapid-acting course."""

    kind: ProcedureKind
    start: Date
    end: Date | None = None
    sessions: StrictInt = Field(ge=0)

    @model_validator(mode="after")
    def _dates(self) -> Procedure:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class PatientRecord(_Model):
    """Everything the engine needs to know about one patient's current depressive episode."""

    id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    sex: Sex = "unknown"
    birth_year: StrictInt | None = None
    episode_start: Date | None = None
    severity: Severity | None = None
    trials: list[Trial] = []
    measurements: list[Measurement] = []
    screens: list[Screen] = []
    labs: list[Lab] = []
    history: History = History()
    contributors: list[Contributor] = []
    risk: Risk | None = None
    procedures: list[Procedure] = []

    @field_validator("birth_year")
    @classmethod
    def _year(cls, v: int | None, info: ValidationInfo) -> int | None:
        today = (info.context or {}).get("today") or dt.date.today()
        if v is not None and not 1900 <= v <= today.year:
            raise ValueError(f"birth_year must be 1900–{today.year}")
        return v


def parse_record(data: Any, *, catalog: Catalog | None = None, source: str | None = None,
                 lines: dict[tuple[str | int, ...], int] | None = None) -> PatientRecord:
    """Validate raw data as a PatientRecord, raising RecordError listing every violation."""
    if not isinstance(data, dict):
        from pathway.errors import Issue

        raise RecordError([Issue(loc="", message="a patient record must be a mapping")],
                          source=source)
    try:
        return PatientRecord.model_validate(data, context={"catalog": catalog} if catalog else None)
    except ValidationError as exc:
        raise RecordError(issues_from(exc, data, lines=lines, file=source), source=source) from None


def load_record(path: Path | str, *, catalog: Catalog | None = None) -> PatientRecord:
    """Read a patient record from a JSON or YAML file ('-' for stdin)."""
    from pathway.errors import DefinitionError

    try:
        data, lines = read_data(path)
    except DefinitionError as exc:  # malformed file: it is the record that is bad
        raise RecordError(exc.issues, source=exc.source) from None
    name = "<stdin>" if str(path) == "-" else Path(str(path)).name
    return parse_record(data, catalog=catalog, source=name, lines=lines)
