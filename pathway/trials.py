"""Trial assessment: was a medication trial adequate (dose, duration, adherence), and its outcome.

Durations are date differences: a dose holds from its `from` until the next dose, the trial's end
or the as-of date, and that last date is not counted.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pathway.catalog import Catalog, Role
from pathway.parameters import Parameters
from pathway.record import Trial
from pathway.results import builder, field_template

Status = Literal["adequate", "in_progress", "inadequate"]
Outcome = Literal["remission", "relapsed", "response", "partial", "none", "unknown"]
ReasonCode = Literal["dose_below_effective", "duration_short", "dose_reduced", "adherence_low"]
# Scores by instrument, sorted by date: (ordinal date, score).
Scores = Mapping[str, Sequence[tuple[int, int]]]
_day = itemgetter(0)
_from_ordinal = dt.date.fromordinal


class TrialAssessment(BaseModel):
    """The verdict on one trial: the `assess-output.md` fields, then internals kept out of JSON."""

    model_config = ConfigDict(
        defer_build=True, frozen=True, serialize_by_alias=True, populate_by_name=True
    )

    index: int
    drug: str
    drug_class: str = Field(alias="class")
    role: Literal["antidepressant", "augmentation"]
    status: Status
    reasons: list[ReasonCode]
    warnings: list[str]
    max_dose_mg: int | float
    min_adequate_dose_mg: int | float | None
    weeks_on_drug: float
    weeks_at_adequate_dose: float
    adherence: float | None
    evaluation_due_on: dt.date | None
    outcome: Outcome
    outcome_basis: dict[str, Any] | None
    # internals (exact day counts; rounding is for display only)
    days_on_drug: int = Field(exclude=True)
    days_at_adequate_dose: int = Field(exclude=True)
    min_serum_mmol_l: float | None = Field(default=None, exclude=True)
    serum_level: float | None = Field(default=None, exclude=True)
    ongoing: bool = Field(exclude=True)
    start: dt.date = Field(exclude=True)
    end: dt.date | None = Field(exclude=True)
    stop_reason: str | None = Field(exclude=True)


_new_assessment = builder(TrialAssessment)
# the order of the instance dict (repr and iteration follow it; so does model_dump, which emits
# the public fields in declaration order all the same)
_TEMPLATE = field_template(
    TrialAssessment,
    (
        *("index", "drug", "drug_class", "role", "status", "reasons", "warnings"),
        *("max_dose_mg", "min_adequate_dose_mg", "weeks_on_drug", "weeks_at_adequate_dose"),
        *("adherence", "evaluation_due_on", "ongoing", "start", "end", "stop_reason"),
        *("outcome", "outcome_basis", "days_on_drug", "days_at_adequate_dose"),
        *("min_serum_mmol_l", "serum_level"),
    ),
)


def _num(v: float | None) -> float | int | None:
    """100.0 → 100, so JSON shows doses as the record gave them."""
    return int(v) if v is not None and float(v).is_integer() else v


@dataclass(frozen=True, slots=True)
class TrialRules:
    """The parameters a trial assessment reads, unwrapped from their `Param`s once per set."""

    min_days: int  # at an adequate dose, antidepressant role
    min_days_augmentation: int
    min_adherence: float
    lookback: int
    grace: int
    min_gap: int
    remission_max: Mapping[Any, int]  # by instrument
    relapse_min: Mapping[Any, int]  # by instrument
    response: float
    partial: float
    older_from_age: int | None  # serum levels: a lower minimum from this age
    older_min_serum: float | None
    instruments: tuple[str, ...]  # an outcome is read from the first with the scores it needs
    stop_reason_outcomes: Mapping[Any, Outcome]  # without scores


@dataclass(frozen=True, slots=True)
class _DrugUse:
    """A drug as a trial of it is judged, in one role."""

    name: str  # generic
    drug_class: str
    min_mg: float | None  # minimum adequate mg/day
    min_mg_shown: float | int | None  # as `min_adequate_dose_mg` shows it
    min_serum: float | None  # minimum serum level (lithium augmentation)


def trial_rules(params: Parameters) -> TrialRules:
    """The parameters a trial assessment reads, unwrapped (a definition's compiled form keeps
    one: `Definition.compiled.rules`)."""
    older = params.serum_level_older_adults
    return TrialRules(
        min_days=round(7 * params.min_weeks_at_adequate_dose.value),
        min_days_augmentation=round(7 * params.min_weeks_augmentation.value),
        min_adherence=params.min_adherence.value,
        lookback=params.baseline_lookback_days.value,
        grace=params.baseline_grace_days.value,
        min_gap=params.min_days_to_outcome.value,
        remission_max=params.remission_max.value,
        relapse_min=params.relapse_min.value,
        response=params.response_reduction.value,
        partial=params.partial_reduction.value,
        older_from_age=older.value.from_age if older else None,
        older_min_serum=older.value.min_serum_mmol_l if older else None,
        instruments=tuple(params.instrument_preference.value),
        stop_reason_outcomes=params.stop_reason_outcomes.value,
    )


def _drug(catalog: Catalog, name: str, role: Role) -> _DrugUse:
    uses = catalog.drug_uses  # (name, role) → use, worked out once per catalog
    hit: _DrugUse | None = uses.get((name, role))
    if hit is None:
        drug = catalog.drug(name)
        if drug is None:  # records are validated against a catalog; a different one may lack it
            raise KeyError(name)
        aug = drug.augmentation if role == "augmentation" else None
        min_mg = drug.min_dose(role) or drug.min_adequate_mg
        min_serum = aug.min_serum_mmol_l if aug else None
        hit = uses[name, role] = _DrugUse(
            drug.name, drug.drug_class, min_mg, _num(min_mg), min_serum
        )
    return hit


# CPython rounds a float to a number of decimals by way of its decimal string (slow); the values
# rounded here come from small integers (days, scores), so each result is computed once.
_ROUNDED: dict[Any, float] = {}


def _remember(key: Any, value: float) -> float:
    if len(_ROUNDED) < 100_000:
        _ROUNDED[key] = value
    return value


def _weeks(days: int) -> float:
    """`round(days / 7, 1)`, remembered (callers look in `_ROUNDED` first: 0.0 is not found)."""
    w = _ROUNDED.get(days)
    return _remember(days, round(days / 7, 1)) if w is None else w


def assess_trial(
    trial: Trial,
    index: int,
    *,
    as_of: dt.date,
    params: Parameters,
    catalog: Catalog,
    scores: Scores,
) -> TrialAssessment:
    """Assess one trial as of a date."""
    return assess_trial_with(trial, index, as_of.toordinal(), trial_rules(params), catalog, scores)


def assess_trial_with(
    trial: Trial,
    index: int,
    as_of_o: int,
    rules: TrialRules,
    catalog: Catalog,
    scores: Scores,
    age: int | None = None,
    closed_by: tuple[int, str] | None = None,
) -> TrialAssessment:
    """`assess_trial`, with the as-of date as an ordinal and the parameters as `trial_rules(params)`
    (for assessing several trials at once); `age` at the as-of date, when known; `closed_by`:
    the start (ordinal) and kind of the first procedure course started on or after the trial's
    start, whose scores belong to that course, not to the drug (spec: Steps)."""
    role = trial.role
    use = _drug(catalog, trial.drug, role)
    min_mg, min_serum = use.min_mg, use.min_serum
    if (
        min_serum is not None
        and age is not None
        and rules.older_from_age is not None
        and rules.older_min_serum is not None
        and age >= rules.older_from_age
    ):
        min_serum = rules.older_min_serum  # a lower adequate level in older adults
    min_days = rules.min_days_augmentation if role == "augmentation" else rules.min_days

    start, end = trial.start, trial.end
    start_o = start.toordinal()
    end_o = end.toordinal() if end else None
    ongoing = end_o is None or end_o > as_of_o
    stop_o = min(end_o, as_of_o) if end_o is not None else as_of_o
    on_days = max(0, stop_o - start_o)

    serum_level = trial.serum_level
    by_level = min_serum is not None and serum_level is not None
    # lithium with a recorded level: every dose is judged by that level, not by mg
    level_ok = by_level and (serum_level or 0.0) >= (min_serum or 0.0)
    max_mg = 0.0
    adequate_days = 0
    due: int | None = None
    reached = False
    latest_ok = False  # the dose in force at the as-of date (or the end) is effective
    acc = 0  # adequate days accumulated, unclipped by as-of, for the due date
    doses = trial.doses
    n = len(doses)
    for i, d in enumerate(doses):
        f = d.start.toordinal()
        nxt = doses[i + 1].start.toordinal() if i + 1 < n else end_o  # the dose holds until
        mg = d.mg_per_day
        if f <= stop_o and mg > max_mg:
            max_mg = mg
        ok = level_ok if by_level else (min_mg is not None and mg >= min_mg)
        if f <= stop_o:
            latest_ok = ok
        if not ok:
            continue
        if f <= as_of_o:
            reached = True
        upto = nxt if nxt is not None else stop_o
        adequate_days += max(0, min(upto, stop_o) - f)
        if due is None:
            span = (nxt - f) if nxt is not None else None
            if span is None or acc + span >= min_days:
                due = f + (min_days - acc)
            else:
                acc += span

    adherence = trial.adherence
    reasons: list[ReasonCode] = []
    if not reached:
        reasons.append("dose_below_effective")
    elif adequate_days < min_days:
        reasons.append("duration_short")
        if ongoing and not latest_ok:  # cut below the effective dose before its full window
            reasons.append("dose_reduced")
            if due is None:  # judged once the weeks on drug reach the window
                due = start_o + min_days
    if adherence is not None and adherence < rules.min_adherence:
        reasons.append("adherence_low")

    if not reasons:
        status: Status = "adequate"
    elif (
        ongoing
        and "adherence_low" not in reasons
        and (on_days < min_days or reasons == ["duration_short"])
    ):
        status = "in_progress"
    else:
        status = "inadequate"

    # A trial that ends after the as-of date had not stopped yet: its stop reason is news from
    # the future, like any other data dated after the as-of date.
    stop_reason = None if ongoing else trial.stop_reason
    if closed_by is None:
        outcome, basis = step_outcome(stop_reason, start_o, stop_o, rules, scores, None, ongoing)
    else:  # a relapse after the course started is the course's, not the drug's
        close_o, kind = closed_by
        judged_o = min(stop_o, close_o)
        going = ongoing and judged_o == stop_o  # a course that started closes the drug's step
        outcome, basis = step_outcome(stop_reason, start_o, judged_o, rules, scores, close_o, going)
        if judged_o < stop_o and basis is not None:
            basis = {**basis, "closed_by": kind, "closed_on": _from_ordinal(close_o)}
    values = _TEMPLATE.copy()  # every field is set below
    values["index"] = index
    values["drug"] = use.name
    values["drug_class"] = use.drug_class
    values["role"] = role
    values["status"] = status
    values["reasons"] = reasons
    values["warnings"] = ["adherence_unknown"] if adherence is None else []
    values["max_dose_mg"] = int(max_mg) if float(max_mg).is_integer() else max_mg
    values["min_adequate_dose_mg"] = None if by_level else use.min_mg_shown
    values["weeks_on_drug"] = _ROUNDED.get(on_days) or _weeks(on_days)
    values["weeks_at_adequate_dose"] = _ROUNDED.get(adequate_days) or _weeks(adequate_days)
    values["adherence"] = adherence
    values["evaluation_due_on"] = _from_ordinal(due) if (due is not None and reached) else None
    values["ongoing"] = ongoing
    values["start"] = start
    values["end"] = end
    values["stop_reason"] = stop_reason
    values["outcome"] = outcome
    values["outcome_basis"] = basis
    values["days_on_drug"] = on_days
    values["days_at_adequate_dose"] = adequate_days
    values["min_serum_mmol_l"] = min_serum
    values["serum_level"] = serum_level
    return _new_assessment(values)


def baseline(series: Sequence[tuple[int, int]], start_o: int, rules: TrialRules) -> int | None:
    """The index of a step's baseline score in a date-sorted series, or None: the latest score
    in the `lookback` days up to the start, else the earliest in the first `grace` days (days
    0..grace-1, so a baseline can never be an end score, which is at least `min_gap` days in).
    The one rule for every baseline: trial outcomes, procedure outcomes and the worklist."""
    after_start = bisect_right(series, start_o, key=_day)  # first score after the start
    if after_start and series[after_start - 1][0] >= start_o - rules.lookback:
        return after_start - 1
    if after_start < len(series) and series[after_start][0] < start_o + rules.grace:
        return after_start
    return None


def step_outcome(
    stop_reason: str | None,
    start_o: int,
    stop_o: int,
    rules: TrialRules,
    scores: Scores,
    until_o: int | None = None,
    ongoing: bool = False,
) -> tuple[Outcome, dict[str, Any] | None]:
    """The outcome of a step (a trial or a procedure course) from its start to `stop_o`.

    From the first instrument with a baseline and an end score (the latest at least `min_gap`
    days in, on or before the stop); else from the stop reason; else unknown. An outcome of
    remission becomes `relapsed` when a later score, on or before `until_o` (default: any, up
    to the as-of date), is at or above the relapse threshold. While a step goes on (`ongoing`),
    its end score is only the latest so far: a remission on it (a score at or below the
    remission threshold, `min_gap` days in or later) followed by a score at or above the relapse
    threshold is `relapsed` too. A step that has ended is judged by its end score alone: a
    remission midway through a trial stopped with a high score is not a relapse but a failure.
    """
    for inst in rules.instruments:
        series = scores.get(inst)
        if not series:
            continue
        b_i = baseline(series, start_o, rules)
        if b_i is None:
            continue
        last = bisect_right(series, stop_o, key=_day) - 1  # latest in [start + min_gap, stop]
        if last < 0 or series[last][0] < start_o + rules.min_gap:
            continue
        base, end = series[b_i], series[last]
        b, e = base[1], end[1]
        reduction = (b - e) / b if b else 0.0
        rounded = _ROUNDED.get((b, e))
        if rounded is None:
            rounded = _remember((b, e), round(reduction, 2))
        remission_max = rules.remission_max[inst]
        if e <= remission_max:
            cat: Outcome = "remission"
        elif reduction >= rules.response:
            cat = "response"
        elif reduction >= rules.partial:
            cat = "partial"
        else:
            cat = "none"
        basis: dict[str, Any] = {
            "instrument": inst,
            "baseline": b,
            "end": e,
            "reduction": rounded,
            "baseline_date": _from_ordinal(base[0]),
            "end_date": _from_ordinal(end[0]),
        }
        relapse_min = rules.relapse_min[inst]
        relapse = None
        if cat == "remission":
            relapse = _relapse_after(series, last, until_o, relapse_min)
        elif ongoing:
            first = bisect_right(series, start_o + rules.min_gap - 1, key=_day)
            remitted = next((i for i in range(first, last) if series[i][1] <= remission_max), None)
            if remitted is not None:
                relapse = _relapse_after(series, remitted, series[last][0], relapse_min)
                if relapse is not None:
                    basis["remission"] = series[remitted][1]
                    basis["remission_date"] = _from_ordinal(series[remitted][0])
        if relapse is not None:
            cat = "relapsed"
            basis["relapse"] = relapse[1]
            basis["relapse_date"] = _from_ordinal(relapse[0])
        return cat, basis
    by_stop = rules.stop_reason_outcomes.get(stop_reason) if stop_reason else None
    if by_stop is not None:
        return by_stop, {"stop_reason": stop_reason}
    return "unknown", None


def _relapse_after(
    series: Sequence[tuple[int, int]], last: int, until_o: int | None, relapse_min: int
) -> tuple[int, int] | None:
    """The first score at or above the relapse threshold dated after the end score (the one
    that showed remission) and on or before `until_o` (None: any), if any."""
    return next(
        (
            s
            for s in series[last + 1 :]
            if s[1] >= relapse_min and (until_o is None or s[0] <= until_o)
        ),
        None,
    )
