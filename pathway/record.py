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
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pathway.catalog import Catalog, default_catalog
from pathway.errors import PathwayError, RecordError, excerpt_text
from pathway.yamlio import (
    Problem,
    field_names,
    issues_from,
    located,
    parse_text,
    read_data,
    read_text,
)

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        raise ValueError("expected a date YYYY-MM-DD, not a date-time")
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str) and _ISO.match(v):
        return v
    raise ValueError("expected a date YYYY-MM-DD")


EARLIEST = dt.date(1900, 1, 1)  # no clinical date in a record is older


def _plausible(v: dt.date) -> dt.date:
    if v < EARLIEST:
        raise ValueError(f"a date before {EARLIEST.isoformat()} is not plausible")
    return v


Date = Annotated[dt.date, BeforeValidator(_iso_date), AfterValidator(_plausible)]
# Ceilings that keep a record a record (a file with 10,000 trials is not one); with the reader's
# limits (pathway.yamlio.MAX_*) they are listed in the README, "Input limits".
MAX_TRIALS, MAX_DOSES, MAX_ENTRIES = 100, 500, 5000
_CONTROL_TEXT = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]"
)
Sex = Literal["female", "male", "other", "unknown"]
Severity = Literal["subsyndromal", "mild", "moderate", "severe", "severe_psychotic"]
TrialRole = Literal["antidepressant", "augmentation"]
StopReason = Literal[
    "no_response", "partial_response", "side_effects", "remission", "patient_choice", "other"
]
MeasurementInstrument = Literal["PHQ-9", "QIDS-SR16", "HAM-D17", "MADRS"]
ContributorKind = Literal[
    "bipolar_disorder",
    "hypothyroidism",
    "sleep_apnea",
    "vitamin_d_deficiency",
    "anemia",
    "chronic_pain",
    "other_medical",
    "alcohol_use",
    "cannabis_use",
    "other_substance_use",
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
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid", populate_by_name=True)


def _catalog(info: ValidationInfo) -> Catalog:
    ctx = info.context or {}
    cat = ctx.get("catalog")
    return cat if isinstance(cat, Catalog) else default_catalog()


def _score_problem(instrument: str, score: int, info: ValidationInfo) -> str | None:
    inst = _catalog(info).instrument_by_name.get(instrument)
    if inst is not None and not inst.range[0] <= score <= inst.range[1]:
        lo, hi = inst.range
        return f"{instrument} score must be an integer {lo}–{hi}"
    return None


class Dose(_Model):
    """A daily dose held from `from` until the next dose, the trial's end or the as-of date."""

    start: Date = Field(alias="from")
    # the catalog's plausible maximum per drug is checked by the trial; this is the last resort
    mg_per_day: StrictFloat = Field(gt=0, le=100_000, allow_inf_nan=False)


class Trial(_Model):
    """One medication trial in the current episode."""

    # Rules that compare fields are field validators reading the fields before them (`info.data`,
    # present only when those were valid), so each violation is reported at its own location
    # and alongside every other one.
    drug: str = Field(max_length=100)
    role: TrialRole = Field(default="antidepressant", validate_default=True)
    start: Date
    end: Date | None = None
    doses: list[Dose] = Field(min_length=1, max_length=MAX_DOSES)
    adherence: StrictFloat | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    stop_reason: StopReason | None = None
    serum_level: StrictFloat | None = Field(default=None, gt=0, le=20, allow_inf_nan=False)

    @field_validator("drug")
    @classmethod
    def _known_drug(cls, v: str, info: ValidationInfo) -> str:
        cat = _catalog(info)
        drug = cat.drug(v)
        if drug is None:
            hint = cat.suggest(v)
            more = f" (did you mean {', '.join(repr(h) for h in hint)}?)" if hint else ""
            raise ValueError(f"unknown drug '{excerpt_text(v)}'{more}")
        return drug.name

    @field_validator("role")
    @classmethod
    def _role_fits_drug(cls, v: str, info: ValidationInfo) -> str:
        drug = _catalog(info).drug(info.data["drug"]) if "drug" in info.data else None
        if drug is not None and v == "antidepressant" and drug.min_adequate_mg is None:
            raise ValueError(
                f"{drug.name} is an augmentation agent, not an antidepressant: "
                "set role: augmentation"
            )
        return v

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, v: dt.date | None, info: ValidationInfo) -> dt.date | None:
        start = info.data.get("start")
        if v is not None and start is not None and v < start:
            raise ValueError(f"end {v} is before start {start}")
        return v

    @field_validator("doses")
    @classmethod
    def _doses_in_order(cls, v: list[Dose], info: ValidationInfo) -> list[Dose]:
        start, end = info.data.get("start"), info.data.get("end")
        problems: list[Problem] = []
        if start is not None and v[0].start != start:
            msg = f"the first dose must start on the trial start {start}"
            problems.append(((0, "from"), msg, v[0].start.isoformat()))
        for i in range(1, len(v)):
            if v[i].start <= v[i - 1].start:
                msg = f"dose dates must increase: this one follows {v[i - 1].start}"
                problems.append(((i, "from"), msg, v[i].start.isoformat()))
        for i, d in enumerate(v):
            if end is not None and d.start > end:
                msg = f"a dose cannot start after the end {end}"
                problems.append(((i, "from"), msg, d.start.isoformat()))
        drug = _catalog(info).drug(info.data["drug"]) if "drug" in info.data else None
        bound = drug.max_daily_mg if drug is not None else None
        for i, d in enumerate(v):
            if drug is not None and bound is not None and d.mg_per_day > bound.mg:
                msg = (
                    f"{d.mg_per_day:g} mg/day is above the plausible maximum for {drug.name} "
                    f"({bound.mg:g} mg/day: {bound.basis})"
                )
                problems.append(((i, "mg_per_day"), msg, d.mg_per_day))
        if problems:
            raise located(problems)
        return v

    @field_validator("stop_reason")
    @classmethod
    def _stopped_only_when_ended(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and "end" in info.data and info.data["end"] is None:
            raise ValueError("a stop_reason needs an end date: it must be null while ongoing")
        return v

    @field_validator("serum_level")
    @classmethod
    def _serum_level_drugs_only(cls, v: float | None, info: ValidationInfo) -> float | None:
        # only a drug the catalog judges by serum level (`augmentation.min_serum_mmol_l`) has one
        if v is None or "drug" not in info.data:
            return v
        catalog = _catalog(info)
        drug = catalog.drug(info.data["drug"])
        if drug is not None and not (drug.augmentation and drug.augmentation.min_serum_mmol_l):
            names = [
                d.name for d in catalog.drugs if d.augmentation and d.augmentation.min_serum_mmol_l
            ]
            raise ValueError(f"serum_level is recorded for {' and '.join(names)} only")
        return v


class Measurement(_Model):
    """A depression rating-scale total."""

    date: Date
    instrument: MeasurementInstrument
    score: StrictInt

    @field_validator("score")
    @classmethod
    def _in_range(cls, v: int, info: ValidationInfo) -> int:
        problem = _score_problem(info.data.get("instrument", ""), v, info)
        if problem:
            raise ValueError(problem)
        return v


class _Screen(_Model):
    date: Date
    score: StrictInt

    @model_validator(mode="after")
    def _in_range(self, info: ValidationInfo) -> _Screen:
        problem = _score_problem(getattr(self, "instrument", ""), self.score, info)
        if problem:
            raise located([(("score",), problem, self.score)])
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
    # Bracketed tags never look like keys of the input in error locations (yamlio.data_path).
    inst = v.get("instrument") if isinstance(v, dict) else getattr(v, "instrument", None)
    if inst == "MDQ":
        return "screen[MDQ]"
    return "screen[score]" if inst in ("STOP-Bang", "AUDIT-C", "CUDIT-R") else None


Screen = Annotated[
    Annotated[MDQScreen, Tag("screen[MDQ]")] | Annotated[ScoreScreen, Tag("screen[score]")],
    Discriminator(
        _screen_tag,
        custom_error_type="unknown_screen",
        custom_error_message="instrument must be one of MDQ, STOP-Bang, AUDIT-C, CUDIT-R",
        custom_error_context={"discriminator": "instrument"},
    ),
]


class Lab(_Model):
    """A laboratory result."""

    date: Date
    test: Literal["TSH", "vitamin_d_25oh", "hemoglobin"]
    value: StrictFloat = Field(ge=0, le=10_000, allow_inf_nan=False)
    unit: str = Field(max_length=20)

    @field_validator("unit")
    @classmethod
    def _unit_fits(cls, v: str, info: ValidationInfo) -> str:
        test = info.data.get("test")
        units = LAB_UNITS.get(test or "", ())
        if test is not None and v not in units:
            raise ValueError(
                f"unit '{excerpt_text(v)}' does not fit {test}: use {' or '.join(units)}"
            )
        return v


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

    @field_validator("note")
    @classmethod
    def _printable(cls, v: str | None) -> str | None:
        bad = _CONTROL_TEXT.search(v) if v is not None else None
        if bad is not None:
            raise ValueError(
                f"a note may not hold control characters (found U+{ord(bad.group()):04X})"
            )
        return v


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
    sessions: StrictInt = Field(ge=0, le=10_000)

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, v: dt.date | None, info: ValidationInfo) -> dt.date | None:
        start = info.data.get("start")
        if v is not None and start is not None and v < start:
            raise ValueError(f"end {v} is before start {start}")
        return v


class PatientRecord(_Model):
    """Everything the engine needs to know about one patient's current depressive episode."""

    id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    sex: Sex = "unknown"
    birth_year: StrictInt | None = None
    episode_start: Date | None = None
    severity: Severity | None = None
    trials: list[Trial] = Field(default=[], max_length=MAX_TRIALS)
    measurements: list[Measurement] = Field(default=[], max_length=MAX_ENTRIES)
    screens: list[Screen] = Field(default=[], max_length=MAX_ENTRIES)
    labs: list[Lab] = Field(default=[], max_length=MAX_ENTRIES)
    history: History = Field(default_factory=History)
    contributors: list[Contributor] = Field(default=[], max_length=MAX_ENTRIES)
    risk: Risk | None = None
    procedures: list[Procedure] = Field(default=[], max_length=MAX_ENTRIES)

    @field_validator("birth_year")
    @classmethod
    def _year(cls, v: int | None, info: ValidationInfo) -> int | None:
        if v is None:
            return v
        today = (info.context or {}).get("today") or dt.date.today()
        if not 1900 <= v <= today.year:
            raise ValueError(f"birth_year must be 1900–{today.year}")
        return v

    @model_validator(mode="after")
    def _not_before_birth(self) -> PatientRecord:
        """No clinical date falls before the year of birth."""
        if self.birth_year is None:
            return self
        born = dt.date(self.birth_year, 1, 1)
        problems: list[Problem] = []
        for path, day in self._dates():
            if day < born:
                msg = f"{day.isoformat()} is before the birth year {self.birth_year}"
                problems.append((path, msg, day.isoformat()))
        if problems:
            raise located(problems)
        return self

    def _dates(self) -> list[tuple[tuple[str | int, ...], dt.date]]:
        out: list[tuple[tuple[str | int, ...], dt.date]] = []
        if self.episode_start is not None:
            out.append((("episode_start",), self.episode_start))
        for i, t in enumerate(self.trials):
            out.append((("trials", i, "start"), t.start))
            if t.end is not None:
                out.append((("trials", i, "end"), t.end))
            out += [(("trials", i, "doses", j, "from"), d.start) for j, d in enumerate(t.doses)]
        for key in ("measurements", "screens", "labs", "contributors"):
            out += [((key, i, "date"), e.date) for i, e in enumerate(getattr(self, key))]
        if self.risk is not None:
            out.append((("risk", "date"), self.risk.date))
        for i, p in enumerate(self.procedures):
            out.append((("procedures", i, "start"), p.start))
            if p.end is not None:
                out.append((("procedures", i, "end"), p.end))
        return out


_VOCABULARY = field_names(PatientRecord)


def parse_record(
    data: Any,
    *,
    catalog: Catalog | None = None,
    source: str | None = None,
    lines: dict[tuple[str | int, ...], int] | None = None,
) -> PatientRecord:
    """Validate raw data as a PatientRecord, raising RecordError listing every violation."""
    if not isinstance(data, dict):
        from pathway.errors import Issue

        raise RecordError(
            [Issue(loc="", message="a patient record must be a mapping")], source=source
        )
    try:
        return PatientRecord.model_validate(data, context={"catalog": catalog} if catalog else None)
    except ValidationError as exc:
        issues = issues_from(exc, data, lines=lines, file=source, vocabulary=_VOCABULARY)
        raise RecordError(issues, source=source) from None


def load_record(path: Path | str, *, catalog: Catalog | None = None) -> PatientRecord:
    """Read a patient record from a JSON or YAML file ('-' for stdin)."""
    from pathway.errors import DefinitionError

    try:
        data, lines = read_data(path)
    except DefinitionError as exc:  # malformed file: it is the record that is bad
        raise RecordError(exc.issues, source=exc.source) from None
    name = "<stdin>" if str(path) == "-" else Path(str(path)).name
    try:
        return parse_record(data, catalog=catalog, source=name, lines=lines)
    except RecordError:
        if lines or str(path) == "-":
            raise
    # JSON is read without line numbers (fast); on error, find them with the YAML reader,
    # which reads JSON too.
    try:
        _, lines = parse_text(read_text(path)[0], name=name)
    except PathwayError:
        lines = {}
    return parse_record(data, catalog=catalog, source=name, lines=lines)
