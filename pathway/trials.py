"""Trial assessment: was a medication trial adequate (dose, duration, adherence), and its outcome.

Durations are date differences: a dose holds from its `from` until the next dose, the trial's end
or the as-of date, and that last date is not counted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pathway.catalog import Catalog
from pathway.parameters import Parameters
from pathway.record import Trial
from pathway.results import construct

Status = Literal["adequate", "in_progress", "inadequate"]
Outcome = Literal["remission", "response", "partial", "none", "unknown"]
ReasonCode = Literal["dose_below_effective", "duration_short", "adherence_low"]
INSTRUMENT_PREFERENCE = ("PHQ-9", "QIDS-SR16", "HAM-D17", "MADRS")
STOP_REASON_OUTCOME: dict[str, Outcome] = {
    "remission": "remission",
    "partial_response": "partial",
    "no_response": "none",
}
# Scores by instrument, sorted by date: (ordinal date, score).
Scores = Mapping[str, Sequence[tuple[int, int]]]


class TrialAssessment(BaseModel):
    """The verdict on one trial: the `assess-output.md` fields, then internals kept out of JSON."""

    model_config = ConfigDict(frozen=True, serialize_by_alias=True, populate_by_name=True)

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


def _num(v: float | None) -> float | int | None:
    """100.0 → 100, so JSON shows doses as the record gave them."""
    return int(v) if v is not None and float(v).is_integer() else v


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
    drug = catalog.drug(trial.drug)
    if drug is None:  # records are validated against a catalog; a different one may lack it
        raise KeyError(trial.drug)
    aug = trial.role == "augmentation"
    min_weeks = (params.min_weeks_augmentation if aug else params.min_weeks_at_adequate_dose).value
    min_days = round(7 * min_weeks)
    min_mg = drug.min_dose(trial.role) or drug.min_adequate_mg
    min_serum = drug.augmentation.min_serum_mmol_l if (aug and drug.augmentation) else None

    as_of_o = as_of.toordinal()
    start_o = trial.start.toordinal()
    end_o = trial.end.toordinal() if trial.end else None
    ongoing = end_o is None or end_o > as_of_o
    stop_o = min(end_o, as_of_o) if end_o is not None else as_of_o
    on_days = max(0, stop_o - start_o)

    by_level = min_serum is not None and trial.serum_level is not None
    # lithium with a recorded level: every dose is judged by that level, not by mg
    level_ok = by_level and (trial.serum_level or 0.0) >= (min_serum or 0.0)
    doses = trial.doses
    n = len(doses)
    max_mg = 0.0
    adequate_days = 0
    due: int | None = None
    reached = False
    acc = 0  # adequate days accumulated, unclipped by as-of, for the due date
    for i, d in enumerate(doses):
        f = d.start.toordinal()
        nxt = doses[i + 1].start.toordinal() if i + 1 < n else end_o
        if f <= stop_o and d.mg_per_day > max_mg:
            max_mg = d.mg_per_day
        ok = level_ok if by_level else (min_mg is not None and d.mg_per_day >= min_mg)
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

    reasons: list[ReasonCode] = []
    if not reached:
        reasons.append("dose_below_effective")
    elif adequate_days < min_days:
        reasons.append("duration_short")
    if trial.adherence is not None and trial.adherence < params.min_adherence.value:
        reasons.append("adherence_low")
    warnings = ["adherence_unknown"] if trial.adherence is None else []

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
    outcome, basis = _outcome(stop_reason, start_o, stop_o, params, scores)
    return construct(
        TrialAssessment,
        index=index,
        drug=drug.name,
        drug_class=drug.drug_class,
        role=trial.role,
        status=status,
        reasons=reasons,
        warnings=warnings,
        max_dose_mg=_num(max_mg),
        min_adequate_dose_mg=None if by_level else _num(min_mg),
        weeks_on_drug=round(on_days / 7, 1),
        weeks_at_adequate_dose=round(adequate_days / 7, 1),
        adherence=trial.adherence,
        evaluation_due_on=dt.date.fromordinal(due) if (due is not None and reached) else None,
        ongoing=ongoing,
        start=trial.start,
        end=trial.end,
        stop_reason=stop_reason,
        outcome=outcome,
        outcome_basis=basis,
        days_on_drug=on_days,
        days_at_adequate_dose=adequate_days,
        min_serum_mmol_l=min_serum,
        serum_level=trial.serum_level,
    )


def _outcome(
    stop_reason: str | None, start_o: int, stop_o: int, params: Parameters, scores: Scores
) -> tuple[Outcome, dict[str, Any] | None]:
    lookback = params.baseline_lookback_days.value
    grace = params.baseline_grace_days.value
    min_gap = params.min_days_to_outcome.value
    for inst in INSTRUMENT_PREFERENCE:
        series = scores.get(inst)
        if not series:
            continue
        base: tuple[int, int] | None = None
        for d, s in series:  # latest in [start - lookback, start]
            if start_o - lookback <= d <= start_o:
                base = (d, s)
        if base is None:
            # else the earliest in the first `grace` days of the trial (days 0..grace-1), so a
            # baseline can never be the end score, which is at least `min_gap` days in
            for d, s in series:
                if start_o < d < start_o + grace:
                    base = (d, s)
                    break
        if base is None:
            continue
        end: tuple[int, int] | None = None
        for d, s in series:
            if start_o + min_gap <= d <= stop_o:
                end = (d, s)
        if end is None:
            continue
        b, e = base[1], end[1]
        reduction = (b - e) / b if b else 0.0
        if e <= params.remission_max.value[inst]:  # type: ignore[index]
            cat: Outcome = "remission"
        elif reduction >= params.response_reduction.value:
            cat = "response"
        elif reduction >= params.partial_reduction.value:
            cat = "partial"
        else:
            cat = "none"
        return cat, {
            "instrument": inst,
            "baseline": b,
            "end": e,
            "reduction": round(reduction, 2),
            "baseline_date": dt.date.fromordinal(base[0]),
            "end_date": dt.date.fromordinal(end[0]),
        }
    if stop_reason in STOP_REASON_OUTCOME:
        return STOP_REASON_OUTCOME[stop_reason], {"stop_reason": stop_reason}
    return "unknown", None
