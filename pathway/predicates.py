"""The library of named predicates a guard may use. Each validates its own parameters.

Predicates are generic: they read derived facts and know nothing of any pathway's states.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

from pathway.facts import Facts
from pathway.parameters import Flag
from pathway.procedures import ProcedureAssessment
from pathway.record import ProcedureKind, StopReason
from pathway.results import PredicateResult, Tri, reason, result_from
from pathway.trials import Outcome, Status, TrialAssessment
from pathway.words import OUTCOME_WORDS, STATUS_WORDS, STOP_REASON_WORDS, inadequacy, words

TrialRole = Literal["antidepressant", "augmentation"]
# what an outcome is asked of: the current trial of a role, or the current step (the current
# antidepressant trial or the latest procedure course, whichever started later)
OutcomeOf = Literal["antidepressant", "augmentation", "step"]
StepKind = Literal["antidepressant", ProcedureKind]


class _Predicate(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    @property
    def key(self) -> str:
        """Identity by content: equal predicates anywhere in a definition share one result
        (read when a guard is compiled, not per patient)."""
        return self.model_dump_json()

    def evaluate(self, facts: Facts) -> PredicateResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def runner(self) -> Runner:
        """A function evaluating this predicate: `evaluate`, or for a predicate with parameters,
        a closure over their values, which then reads them once, not on every call (attributes
        of pydantic models are slow to read). A compiled plan keeps the runners it uses."""
        return self.evaluate


Runner: TypeAlias = Callable[[Facts], PredicateResult]


def _trial(facts: Facts, role: TrialRole) -> TrialAssessment | None:
    return facts.current_trial if role == "antidepressant" else facts.current_augmentation


def _none_result(name: str, role: str) -> PredicateResult:
    what = "no trial or procedure" if role == "step" else f"no {role} trial"
    return reason(name, "false", f"{what} on record", value=None)


class FlagRaised(_Predicate):
    """A differential flag is raised (by evidence; no evidence means not raised)."""

    pred: Literal["flag"]
    flag: Flag

    def evaluate(self, facts: Facts) -> PredicateResult:
        ev = facts.flags.get(self.flag)
        if not ev:
            return reason(
                self.flag,
                "false",
                f"no evidence of {self.flag.replace('_', ' ')}",
                value=False,
                source=facts.params.article_sections.source,
            )
        first = ev[0]
        detail = "; ".join(e.detail for e in ev)
        return reason(
            self.flag,
            "true",
            detail,
            value=True,
            threshold=first.threshold,
            evidence_date=first.evidence_date,
            source=first.source,
        )


class DifferentialClear(_Predicate):
    """No bipolar features, medical contributor, substance use, active stressor or bipolar."""

    pred: Literal["differential_clear"]

    def evaluate(self, facts: Facts) -> PredicateResult:
        flags = facts.flags_blocking
        blocking = [*flags, "bipolar_confirmed"] if facts.bipolar_confirmed else flags
        article = facts.params.article_sections.source
        if not blocking:
            return _with_empty_value(_CLEAR, source=article)
        found = [e for f in flags for e in facts.flags[f]]
        if facts.bipolar_confirmed:
            found.append(facts.bipolar_confirmed)
        details = list(dict.fromkeys(e.detail for e in found))  # each piece of evidence once
        dates = [e.evidence_date for e in found if e.evidence_date is not None]
        return reason(
            "differential_clear",
            "false",
            "differential not clear: " + "; ".join(details),
            value=blocking,
            evidence_date=max(dates) if dates else None,
            source=article,
        )


# The fields of the usual result of two predicates: the same for every patient but for the
# value, an empty list (a new one each time: results share no mutable value), and the source,
# the definition's.
_CLEAR = {
    "predicate": "differential_clear",
    "result": "true",
    "detail": "no bipolar features, medical contributor, substance use or active stressor on "
    "record",
    "source": None,
    "value": None,
    "threshold": None,
    "evidence_date": None,
}
_NOT_LIFE_THREATENING = {
    "predicate": "life_threatening",
    "result": "false",
    "detail": "no risk assessment on file",
    "source": None,
    "value": None,
    "threshold": None,
    "evidence_date": None,
}


def _with_empty_value(fields: dict[str, Any], *, source: str | None = None) -> PredicateResult:
    values = fields.copy()  # (copying a small dict is cheaper than building it)
    values["value"] = []
    values["source"] = source
    return result_from(values)


class BipolarConfirmed(_Predicate):
    """The latest bipolar-disorder entry is `confirmed`."""

    pred: Literal["bipolar_confirmed"]

    def evaluate(self, facts: Facts) -> PredicateResult:
        if facts.bipolar_confirmed is not None:
            return facts.bipolar_confirmed
        return reason(
            "bipolar_confirmed",
            "false",
            "bipolar disorder not confirmed",
            value=False,
            source=facts.params.article_sections.source,
        )


class LifeThreatening(_Predicate):
    """The latest risk assessment shows active suicidality, psychosis, catatonia or not eating."""

    pred: Literal["life_threatening"]

    def evaluate(self, facts: Facts) -> PredicateResult:
        if facts.life_threatening is not None:
            return facts.life_threatening
        if facts.risk_date is not None:  # an assessment on file, without such a feature
            param = facts.params.life_threatening_features
            return reason(
                "life_threatening",
                "false",
                f"risk assessment of {facts.risk_date.isoformat()}: none of "
                + ", ".join(f.replace("_", " ") for f in param.value),
                value=[],
                evidence_date=facts.risk_date,
                source=param.source,
            )
        return _with_empty_value(_NOT_LIFE_THREATENING)


class TreatmentResistant(_Predicate):
    """Enough adequate failed trials (in distinct classes if required) and a clear differential."""

    pred: Literal["treatment_resistant"]

    def evaluate(self, facts: Facts) -> PredicateResult:
        p = facts.params
        need = p.trd_min_failed_trials.value
        n = len(facts.failed_trials)
        classes = facts.failed_classes
        distinct = p.trd_require_distinct_classes.value
        what = f"{n} failed adequate trial{'s' if n != 1 else ''}"
        if facts.failed_trials:
            what += (
                " ("
                + ", ".join(
                    [f"{t.drug}: {words(t.outcome, OUTCOME_WORDS)}" for t in facts.failed_trials]
                )
                + ")"
            )
        if distinct:
            what += f" in {len(classes)} class{'es' if len(classes) != 1 else ''}"
        result: Tri = "true" if facts.treatment_resistant else "false"
        what += (
            f"; needs ≥{need}{' in distinct classes' if distinct else ''} and a clear differential"
        )
        if n >= need and not facts.treatment_resistant and (not distinct or len(classes) >= need):
            what += ": the differential is not clear"
        last = max((t.end or t.start for t in facts.failed_trials), default=None)
        return reason(
            "treatment_resistant",
            result,
            what,
            value=n,
            threshold=need,
            evidence_date=last,
            source=p.trd_min_failed_trials.source,
        )


class TrialStatusIs(_Predicate):
    """The current trial of a role has one of the given adequacy statuses (`none`: there is no
    trial of that role)."""

    pred: Literal["trial_status"]
    role: TrialRole = "antidepressant"
    is_: list[Status | Literal["none"]] = Field(alias="in", min_length=1)

    def evaluate(self, facts: Facts) -> PredicateResult:
        return self.runner()(facts)

    def runner(self) -> Runner:
        role, wanted = self.role, tuple(self.is_)
        key = ("trial_status", role)

        def evaluate(facts: Facts) -> PredicateResult:
            t = facts.current_trial if role == "antidepressant" else facts.current_augmentation
            if t is None:
                if "none" in wanted:
                    return reason(
                        "trial_status",
                        "true",
                        f"no {role} trial on record",
                        value="none",
                        threshold=list(wanted),
                    )
                return _none_result("trial_status", role)
            base = facts.shared.get(key)
            if base is None:  # the same for every status asked about: worked out once
                base = facts.shared[key] = _status_fields(t, role, facts)
            values = base.copy()
            values["result"] = "true" if values["value"] in wanted else "false"
            values["threshold"] = list(wanted)
            return result_from(values)

        return evaluate


def _status_fields(t: TrialAssessment, role: str, facts: Facts) -> dict[str, Any]:
    """A `trial_status` result's fields but `result` and `threshold`, in field order."""
    p = facts.params
    weeks = p.min_weeks_augmentation if role == "augmentation" else p.min_weeks_at_adequate_dose
    why = f" ({'; '.join(inadequacy(t.reasons, p.min_adherence.value))})" if t.reasons else ""
    if t.min_adequate_dose_mg is None and t.min_serum_mmol_l is not None:  # judged by level
        level = f"{t.serum_level:g} mmol/L" if t.serum_level is not None else "not recorded"
        at = f"at a serum level ≥{t.min_serum_mmol_l:g} mmol/L (level {level})"
    else:
        at = (
            f"at ≥{t.min_adequate_dose_mg:g} mg/day"
            if t.min_adequate_dose_mg
            else "at an effective dose"
        )
    adherence = (
        f"adherence {t.adherence:.0%} (needs ≥{p.min_adherence.value:.0%})"
        if t.adherence is not None
        else "adherence not recorded"
    )
    return {
        "predicate": "trial_status",
        "result": None,
        "detail": f"current {role} trial of {t.drug} is {words(t.status, STATUS_WORDS)}{why}: "
        f"{t.weeks_at_adequate_dose:.1f} weeks {at} (needs ≥{weeks.value:g} weeks), "
        f"max {t.max_dose_mg:g} mg/day, {adherence}",
        "source": weeks.source,
        "value": t.status,
        "threshold": None,
        "evidence_date": t.start,
    }


class OutcomeIs(_Predicate):
    """The outcome of the current trial of a role, or of the current step (`role: step`), is
    one of the given categories (unknown when it is unknown)."""

    pred: Literal["outcome"]
    role: OutcomeOf = "antidepressant"
    is_: list[Outcome] = Field(alias="in", min_length=1)
    when_unknown: Literal["unknown", "false", "true"] = "unknown"

    def evaluate(self, facts: Facts) -> PredicateResult:
        return self.runner()(facts)

    def runner(self) -> Runner:
        role, wanted, when_unknown = self.role, tuple(self.is_), self.when_unknown
        # an unknown outcome gives `when_unknown`, unless "unknown" is asked for
        if_unknown: Tri = "true" if "unknown" in wanted else when_unknown
        key = ("outcome", role)

        def evaluate(facts: Facts) -> PredicateResult:
            t = _of(facts, role)
            if t is None:
                return _none_result("outcome", role)
            base = facts.shared.get(key)
            if base is None:  # the same for every outcome asked about: worked out once
                base = facts.shared[key] = _outcome_fields(t, facts)
            values = base.copy()
            outcome = values["value"]
            if outcome == "unknown":
                values["result"] = if_unknown
            else:
                values["result"] = "true" if outcome in wanted else "false"
            values["threshold"] = list(wanted)
            return result_from(values)

        return evaluate


def _of(facts: Facts, role: OutcomeOf) -> TrialAssessment | ProcedureAssessment | None:
    if role == "step":
        return facts.current_step
    return facts.current_trial if role == "antidepressant" else facts.current_augmentation


def _outcome_fields(t: TrialAssessment | ProcedureAssessment, facts: Facts) -> dict[str, Any]:
    """An `outcome` result's fields but `result` and `threshold`, in field order: how the
    trial's outcome was judged, the date of the score it rests on, and the source of the cut-off
    that decided it (remission, relapse, or the response and partial falls)."""
    basis = t.outcome_basis or {}
    params = facts.params
    date = None
    if "instrument" in basis:
        inst, fall = basis["instrument"], basis["reduction"]
        change = f"{fall:.0%} fall" if fall >= 0 else f"{-fall:.0%} rise"
        date = basis.get("end_date")
        cut = _category_cut(t.outcome, params)
        how = f"{inst} {basis['baseline']} → {basis['end']} ({change}{cut})"
        if t.outcome == "remission":
            how += f"; remission is {inst} ≤{params.remission_max.value[inst]}"
        elif "relapse" in basis:  # a remission (the end score, or an earlier one), then a relapse
            low, low_on = (
                (basis["remission"], basis["remission_date"])
                if "remission_date" in basis
                else (basis["end"], basis.get("end_date"))
            )
            on = f" on {low_on.isoformat()}" if low_on is not None else ""
            date = basis["relapse_date"]
            how = (
                f"{inst} {basis['baseline']} → {low}{on} (remission is "
                f"≤{params.remission_max.value[inst]}), then {basis['relapse']} on "
                f"{date.isoformat()} (relapse is ≥{params.relapse_min.value[inst]})"
            )
            if "remission_date" in basis:
                how += f"; latest {basis['end']} on {basis['end_date'].isoformat()}"
    elif "stop_reason" in basis:
        how = (
            f"stopped for {words(basis['stop_reason'], STOP_REASON_WORDS)} "
            "(no baseline and end scores to judge by)"
        )
        date = t.end
    else:
        how = (
            "no baseline and end scores and no stop reason (a baseline is a score in the "
            f"{params.baseline_lookback_days.value} days before the start or the first "
            f"{params.baseline_grace_days.value} days; an end score is one at least "
            f"{params.min_days_to_outcome.value} days after the start)"
        )
    if "closed_by" in basis:
        how += (
            f"; judged up to the start of the {basis['closed_by']} course on "
            f"{basis['closed_on'].isoformat()} (later scores are the course's)"
        )
    if t.outcome == "relapsed":
        source = params.relapse_min.source
    elif t.outcome == "remission":
        source = params.remission_max.source
    elif t.outcome in ("partial", "none"):
        source = params.partial_reduction.source
    else:
        source = params.response_reduction.source
    return {
        "predicate": "outcome",
        "result": None,
        "detail": f"outcome of {t.drug} is {words(t.outcome, OUTCOME_WORDS)}: {how}",
        "source": source,
        "value": t.outcome,
        "threshold": None,
        "evidence_date": date,
    }


def _category_cut(outcome: str, params: Any) -> str:
    """The fall from baseline that makes a category (none of it for remission or relapse)."""
    response, partial = params.response_reduction.value, params.partial_reduction.value
    if outcome == "response":
        return f"; a response is a fall of ≥{response:.0%}"
    if outcome == "partial":
        return f"; a partial response is a fall of {partial:.0%} to under {response:.0%}"
    if outcome == "none":
        return f"; no response is a fall of less than {partial:.0%}"
    return ""


class StoppedFor(_Predicate):
    """The current trial ended with one of the given stop reasons."""

    pred: Literal["stopped_for"]
    role: TrialRole = "antidepressant"
    reasons: list[StopReason] = Field(min_length=1)

    def evaluate(self, facts: Facts) -> PredicateResult:
        return self.runner()(facts)

    def runner(self) -> Runner:
        role, wanted = self.role, tuple(self.reasons)

        def evaluate(facts: Facts) -> PredicateResult:
            t = facts.current_trial if role == "antidepressant" else facts.current_augmentation
            if t is None:
                return _none_result("stopped_for", role)
            stop_reason = t.stop_reason
            if t.ongoing:
                what = f"{t.drug} is still being taken (not stopped)"
            elif stop_reason is None:
                what = f"{t.drug} ended on {t.end} with no stop reason recorded"
            else:
                what = f"{t.drug} stopped on {t.end} for {words(stop_reason, STOP_REASON_WORDS)}"
            return reason(
                "stopped_for",
                "true" if stop_reason in wanted else "false",
                what,
                value=stop_reason,
                threshold=list(wanted),
                evidence_date=None if t.ongoing else t.end,
                source=facts.params.article_sections.source,
            )

        return evaluate


class EvaluationWindowReached(_Predicate):
    """The current trial of a role reached its evaluation window, or ended (a trial that ended on
    or before the day the patient entered their state does not count: it was judged already)."""

    pred: Literal["evaluation_window_reached"]
    role: TrialRole = "antidepressant"

    def evaluate(self, facts: Facts) -> PredicateResult:
        t = _trial(facts, self.role)
        if t is None:
            return _none_result("evaluation_window_reached", self.role)
        p = facts.params
        weeks = (
            p.min_weeks_augmentation
            if self.role == "augmentation"
            else p.min_weeks_at_adequate_dose
        )
        if not t.ongoing:
            entered = facts.entered_state_on
            if entered is not None and t.end is not None and t.end <= entered:
                return reason(
                    "evaluation_window_reached",
                    "false",
                    f"{t.drug} ended on {t.end}, before this step began on {entered}: "
                    f"waiting for the next {self.role} trial",
                    value="ended before this step",
                    evidence_date=t.end,
                    source=weeks.source,
                )
            return reason(
                "evaluation_window_reached",
                "true",
                f"{t.drug} ended on {t.end}",
                value="ended",
                evidence_date=t.end,
                source=weeks.source,
            )
        due = t.evaluation_due_on
        if due is not None:
            ok = due <= facts.as_of
            when = "reached" if ok else "due"
            what = (
                f"dose cut below the effective dose; {weeks.value:g} weeks on drug {when}"
                if "dose_reduced" in t.reasons
                else f"{weeks.value:g} weeks at effective dose {when}"
            )
            return reason(
                "evaluation_window_reached",
                "true" if ok else "false",
                f"{t.drug}: {what} on {due.isoformat()}",
                value=round(t.weeks_at_adequate_dose, 1),
                threshold=weeks.value,
                evidence_date=due,
                source=weeks.source,
            )
        ok = "dose_below_effective" in t.reasons and t.days_on_drug >= round(7 * weeks.value)
        if "dose_below_effective" not in t.reasons:
            dose = "effective dose not held"
        elif t.min_adequate_dose_mg is None and t.min_serum_mmol_l is not None:
            level = f"{t.serum_level:g} mmol/L" if t.serum_level is not None else "not recorded"
            dose = f"serum level {level}, below the adequate ≥{t.min_serum_mmol_l:g} mmol/L"
        else:
            effective = f"≥{t.min_adequate_dose_mg:g}" if t.min_adequate_dose_mg else "-"
            dose = (
                f"effective dose never reached (max {t.max_dose_mg:g} mg/day, effective "
                f"{effective} mg/day)"
            )
        return reason(
            "evaluation_window_reached",
            "true" if ok else "false",
            f"{t.drug}: {t.weeks_on_drug:.1f} weeks on drug (reassessed at {weeks.value:g} "
            f"weeks on drug), {dose}",
            value=round(t.weeks_on_drug, 1),
            threshold=weeks.value,
            evidence_date=t.start,
            source=weeks.source,
        )


class ProcedureCourseComplete(_Predicate):
    """The latest procedure course delivered its sessions, or ended (a course that ended on or
    before the day the patient entered their state does not count: it was judged already)."""

    pred: Literal["procedure_course_complete"]

    def evaluate(self, facts: Facts) -> PredicateResult:
        p = facts.latest_procedure
        param = facts.params.course_complete_sessions
        if p is None:
            return reason("procedure_course_complete", "false", "no procedure on record")
        kind, start, end, sessions = p
        need = param.value.get(kind)  # type: ignore[call-overload]
        if end is not None:
            entered = facts.entered_state_on
            before = entered is not None and end <= entered
            return reason(
                "procedure_course_complete",
                "false" if before else "true",
                f"{kind} course ended on {end}"
                + (
                    f", before this step began on {entered}: waiting for the next course"
                    if before
                    else ""
                ),
                value=sessions,
                threshold=need,
                evidence_date=end,
                source=param.source,
            )
        ok = need is not None and sessions >= need
        return reason(
            "procedure_course_complete",
            "true" if ok else "false",
            f"{kind}: {sessions} of {need} sessions delivered",
            value=sessions,
            threshold=need,
            evidence_date=start,
            source=param.source,
        )


class CurrentStepIs(_Predicate):
    """The current step is of one of the given kinds: `antidepressant` (a trial) or a procedure
    kind (rTMS, ECT, esketamine, …)."""

    pred: Literal["current_step"]
    is_: list[StepKind] = Field(alias="in", min_length=1)

    def evaluate(self, facts: Facts) -> PredicateResult:
        step = facts.current_step
        wanted = list(self.is_)
        if step is None:
            return reason("current_step", "false", "no trial or procedure on record")
        kind = step.kind if isinstance(step, ProcedureAssessment) else "antidepressant"
        what = (
            f"the {kind} course begun {step.start}"
            if isinstance(step, ProcedureAssessment)
            else f"the {step.drug} trial begun {step.start}"
        )
        return reason(
            "current_step",
            "true" if kind in wanted else "false",
            f"{what} is the current step",
            value=kind,
            threshold=wanted,
            evidence_date=step.start,
        )


class FailedTrialsAtLeast(_Predicate):
    """At least as many failed adequate antidepressant trials as a named parameter says."""

    pred: Literal["failed_trials"]
    at_least: str = Field(description="the name of an integer parameter")

    def evaluate(self, facts: Facts) -> PredicateResult:
        param = getattr(facts.params, self.at_least)
        need = param.value
        n = len(facts.failed_trials)
        return reason(
            "failed_trials",
            "true" if n >= need else "false",
            f"{n} failed adequate antidepressant trial{'s' if n != 1 else ''} "
            f"({self.at_least}: ≥{need})",
            value=n,
            threshold=need,
            source=param.source,
        )


class CourseEndedWith(_Predicate):
    """A procedure course of one of the given kinds ended with one of the given outcomes."""

    pred: Literal["course_ended_with"]
    kinds: list[ProcedureKind] = Field(min_length=1)
    outcomes: list[Outcome] = Field(min_length=1)

    def evaluate(self, facts: Facts) -> PredicateResult:
        kinds, outcomes = tuple(self.kinds), tuple(self.outcomes)
        found = next(
            (
                p
                for p in reversed(facts.procedures)
                if p.kind in kinds and p.end is not None and p.outcome in outcomes
            ),
            None,
        )
        if found is None:
            return reason(
                "course_ended_with",
                "false",
                f"no {'/'.join(kinds)} course ended with outcome {'/'.join(outcomes)}",
                value=None,
                threshold=list(outcomes),
            )
        return reason(
            "course_ended_with",
            "true",
            f"{found.kind} course ended on {found.end} with outcome {found.outcome}",
            value=found.outcome,
            threshold=list(outcomes),
            evidence_date=found.end,
        )


class Relapse(_Predicate):
    """The latest score is at or above the instrument's relapse threshold."""

    pred: Literal["relapse"]

    def evaluate(self, facts: Facts) -> PredicateResult:
        param = facts.params.relapse_min
        if facts.latest_score is None:
            return reason("relapse", "unknown", "no score on record", source=param.source)
        date, inst, score = facts.latest_score
        cut = param.value[inst]  # type: ignore[index]
        return reason(
            "relapse",
            "true" if score >= cut else "false",
            f"latest {inst} {score} on {date.isoformat()} (relapse at ≥{cut})",
            value=score,
            threshold=cut,
            evidence_date=date,
            source=param.source,
        )


Predicate = Annotated[
    FlagRaised
    | DifferentialClear
    | BipolarConfirmed
    | LifeThreatening
    | TreatmentResistant
    | TrialStatusIs
    | OutcomeIs
    | StoppedFor
    | EvaluationWindowReached
    | ProcedureCourseComplete
    | CurrentStepIs
    | FailedTrialsAtLeast
    | CourseEndedWith
    | Relapse,
    Field(discriminator="pred"),
]
PREDICATE_NAMES = sorted(
    c.model_fields["pred"].annotation.__args__[0]  # type: ignore[union-attr]
    for c in _Predicate.__subclasses__()
)
