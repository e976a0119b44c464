"""What is due for one patient, most urgent first, and why: the worklist's clinical rules
(no database; the engine stores the items with every write)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from typing import Literal

from pydantic import BaseModel, ConfigDict

from pathway.definition import Definition
from pathway.evaluation import GuardResult, enabled_triggers, guard_results
from pathway.facts import Facts, derive
from pathway.parameters import Param
from pathway.procedures import ProcedureAssessment
from pathway.record import PatientRecord
from pathway.results import builder
from pathway.trials import TrialAssessment

ItemKind = Literal[
    "urgent_risk",
    "decision_needed",
    "evaluation_due",
    "decision_pending",
    "not_improving",
    "measurement_overdue",
    "maintenance_followup",
]
# Most urgent first: a life at risk, then a decision the pathway is waiting for, then follow-up.
PRIORITY: dict[str, int] = {
    "urgent_risk": 0,
    "decision_needed": 1,
    "evaluation_due": 2,
    "decision_pending": 3,
    "not_improving": 4,
    "measurement_overdue": 5,
    "maintenance_followup": 6,
}
LABELS: dict[str, str] = {
    "urgent_risk": "urgent risk",
    "decision_needed": "decision needed: nothing is enabled",
    "evaluation_due": "evaluation due",
    "decision_pending": "decision pending",
    "not_improving": "not improving: psychiatric case review",
    "measurement_overdue": "measurement overdue",
    "maintenance_followup": "maintenance follow-up due",
}
_DECIDING = ("decision", "evaluation")
_Add = Callable[..., None]


class DueItem(BaseModel):
    """One thing a coordinator should act on for one patient."""

    model_config = ConfigDict(frozen=True)

    patient: str
    state: str
    item: ItemKind
    label: str
    due_on: dt.date
    overdue_days: int
    why: str
    sources: tuple[str, ...] = ()

    @property
    def priority(self) -> int:
        return PRIORITY[self.item]


_new_item = builder(DueItem)  # trusted values in field order: no validation on the write path


def sort_key(item: DueItem) -> tuple[int, dt.date, str, str]:
    """Most urgent first: by item priority, then the longest overdue, then patient id."""
    return (PRIORITY[item.item], item.due_on, item.patient, item.state)


def due_items(
    state: str,
    *,
    entered_state_on: dt.date,
    facts: Facts,
    definition: Definition,
    as_of: dt.date | None = None,
    patient: str = "",
    guards: list[GuardResult] | None = None,
    upcoming: bool = False,
) -> list[DueItem]:
    """Every item due for a patient in `state` (entered on `entered_state_on`), most urgent first.

    `facts` are the patient's facts derived as of `as_of` (default: `facts.as_of`); `guards`
    may pass the guard results from `state` when the caller has them already. `upcoming` adds
    the time-driven items that fall due later if nothing new is recorded (decision pending,
    measurement overdue, not improving, maintenance follow-up), each on its own date. States are
    found by their kind (decision, evaluation, treatment, continuing, final), never by name;
    every number comes from the definition's parameters, whose sources each item's `why` cites.
    """
    day = as_of or facts.as_of
    kind = definition.state_by_id[state].kind
    if kind == "final":
        return []
    p = definition.parameters
    out: list[DueItem] = []

    def add(
        item: ItemKind, due: dt.date, why: str, *sources: str | None, label: str | None = None
    ) -> None:
        out.append(
            _new_item(
                {
                    "patient": patient,
                    "state": state,
                    "item": item,
                    "label": label or LABELS[item],
                    "due_on": due,
                    "overdue_days": (day - due).days,
                    "why": why,
                    "sources": tuple(s for s in sources if s),
                }
            )
        )

    risk = facts.life_threatening
    results = guards
    on: tuple[str, ...] = ()
    if results is None:
        # the guards' results and reasons are built only when an item needs their words: a
        # risk, a move into a decision, or a decision with nothing enabled
        on = enabled_triggers(definition, facts, state)
        states = definition.state_by_id
        leads = {
            t.trigger
            for t in definition.transitions_from(state)
            if (dest := states.get(t.dest)) is not None and dest.kind == "decision"
        }
        wanted = risk is not None or (kind == "decision" and not on) or bool(leads & set(on))
        results = guard_results(definition, facts, state) if wanted else []
    if risk is not None:
        escalation = [g for g in results if g.result == "true" and _uses_risk(definition, g)]
        since = risk.evidence_date or day
        if escalation or since >= entered_state_on:
            to = ""
            if escalation:  # the move in the words of the evaluation-due items
                g = escalation[0]
                dest = definition.state_by_id.get(g.to)
                to = f"; '{g.trigger}' → {dest.label if dest else g.to} is enabled"
            add("urgent_risk", since, f"{risk.detail}{to}", risk.source)

    if kind != "decision":
        for g in results:
            dest = definition.state_by_id.get(g.to)
            if g.result != "true" or dest is None or dest.kind != "decision":
                continue
            if _uses_risk(definition, g):
                continue
            true = [r for r in g.reasons if r.result == "true"]
            dates = [r.evidence_date for r in true if r.evidence_date is not None]
            due = max([entered_state_on, *dates])
            detail = "; ".join(r.detail for r in true) or g.trigger
            add(
                "evaluation_due",
                min(due, day),
                f"{detail}; '{g.trigger}' → {dest.label} is enabled",
                *(r.source for r in true),
                label=f"{LABELS['evaluation_due']}: {dest.label.lower()}",
            )

    nothing = not on if guards is None else not any(g.result == "true" for g in results)
    if kind == "decision" and nothing:
        add("decision_needed", entered_state_on, _nothing_enabled(results))

    if kind in _DECIDING:
        limit = p.decision_pending_days
        if upcoming or (day - entered_state_on).days > limit.value:
            add(
                "decision_pending",
                entered_state_on + dt.timedelta(days=limit.value + 1),
                f"in {definition.state_by_id[state].label} ({kind}) since "
                f"{entered_state_on.isoformat()}; a decision is due within {limit.value} days "
                "(decision_pending_days)",
                limit.source,
            )

    if kind == "treatment":
        _contact_gap(
            "measurement_overdue",
            "measurement_overdue_days",
            definition.parameters.measurement_overdue_days,
            "a score is expected every {} days in a treatment step",
            facts,
            entered_state_on,
            day,
            add,
            upcoming,
        )
    if kind in ("treatment", "procedure"):
        _not_improving(facts, definition, day, add, upcoming)

    if kind == "continuing":
        _contact_gap(
            "maintenance_followup",
            "maintenance_followup_days",
            p.maintenance_followup_days,
            "follow-up every {} days in maintenance",
            facts,
            entered_state_on,
            day,
            add,
            upcoming,
        )

    out.sort(key=sort_key)
    return out


def _nothing_enabled(results: list[GuardResult]) -> str:
    """Why a decision state has nothing enabled: each piece of missing data, and the moves it
    holds up (an unknown guard waits on it)."""
    missing: dict[str, list[str]] = {}
    for g in results:
        if g.result == "unknown":
            for r in g.reasons:
                if r.result == "unknown" and g.trigger not in missing.setdefault(r.detail, []):
                    missing[r.detail].append(g.trigger)
    if not missing:
        return (
            "no transition's guard holds and none is unknown: an unforeseen case; review the "
            "record and decide (an override records why)"
        )
    return "nothing is enabled; missing: " + "; ".join(
        f"{detail} (holds up {', '.join(triggers)})" for detail, triggers in missing.items()
    )


def _uses_risk(definition: Definition, g: GuardResult) -> bool:
    return any(r.predicate == "life_threatening" and r.result == "true" for r in g.reasons)


def _last_contact(facts: Facts, entered: dt.date) -> tuple[dt.date, str]:
    """The later of the last score and entering the state: the clock of the follow-up items."""
    last = facts.latest_score
    if last is not None and last[0] >= entered:
        return last[0], f"last score {last[1]} {last[2]} on {last[0].isoformat()}"
    if last is not None:
        return entered, (
            f"no score since entering the state on {entered.isoformat()} "
            f"(last: {last[1]} {last[2]} on {last[0].isoformat()})"
        )
    return entered, f"no score on record since entering the state on {entered.isoformat()}"


def _contact_gap(
    item: ItemKind,
    name: str,
    gap: Param[int],
    every: str,
    facts: Facts,
    entered: dt.date,
    day: dt.date,
    add: _Add,
    upcoming: bool,
) -> None:
    """An item due `gap` (the parameter `name`) days after the last contact in this state, or
    its entry: a score in a treatment step, a follow-up in maintenance. `every` says the rule,
    with `{}` for the days."""
    ref, what = _last_contact(facts, entered)
    due = ref + dt.timedelta(days=gap.value)
    if upcoming or day >= due:
        add(item, due, f"{what}; {every.format(gap.value)} ({name})", gap.source)


def early_check(facts: Facts, definition: Definition) -> tuple[dt.date, str, float] | None:
    """When the current step can first be judged for early improvement, how, and its fall.

    A trial is judged once it has `early_improvement.weeks` at an effective dose, a procedure
    course `min_days_to_outcome` after its start; the fall is the step's outcome basis (one
    baseline rule for outcomes and the worklist: `pathway.trials.baseline`). None when the
    definition has no early-improvement rule or the step has no scores to judge.
    """
    rule = definition.parameters.early_improvement
    step = facts.current_step
    if rule is None or step is None:
        return None
    basis = step.outcome_basis or {}
    if "instrument" not in basis or not basis["baseline"]:
        return None
    how, fall = _early_how(step)
    if isinstance(step, ProcedureAssessment):
        need = definition.parameters.min_days_to_outcome.value
        return step.start + dt.timedelta(days=need), how, fall
    need_days = round(7 * rule.value.weeks)
    if step.days_at_adequate_dose < need_days or not step.ongoing:
        return None
    since = facts.as_of - dt.timedelta(days=step.days_at_adequate_dose - need_days)
    return since, how, fall


def _early_how(step: TrialAssessment | ProcedureAssessment) -> tuple[str, float]:
    """The step and its fall from baseline, in words, and the fall."""
    basis = step.outcome_basis or {}
    if "instrument" not in basis or not basis["baseline"]:
        return "", 1.0
    fall = (basis["baseline"] - basis["end"]) / basis["baseline"]
    change = f"{fall:.0%} fall" if fall >= 0 else f"{-fall:.0%} rise"
    how = f"{basis['instrument']} {basis['baseline']} → {basis['end']}"
    if basis.get("end_date") is not None:
        how += f" on {basis['end_date'].isoformat()}"
    how += f" ({change})"
    if isinstance(step, ProcedureAssessment):
        return f"the {step.kind} course: {how}", fall
    return f"{step.drug} at an effective dose: {how}", fall


def _early_check_opens(facts: Facts, definition: Definition) -> dt.date | None:
    """The day the current step will be judged for early improvement, if nothing new is
    recorded and its scores so far show too small a fall."""
    rule = definition.parameters.early_improvement
    step = facts.current_step
    if rule is None or step is None or not step.ongoing:
        return None
    basis = step.outcome_basis or {}
    if "instrument" not in basis or not basis["baseline"]:
        return None
    if (basis["baseline"] - basis["end"]) / basis["baseline"] >= rule.value.reduction:
        return None
    if isinstance(step, ProcedureAssessment):
        return step.start + dt.timedelta(days=definition.parameters.min_days_to_outcome.value)
    need = round(7 * rule.value.weeks)
    if step.days_at_adequate_dose >= need or step.reasons[:1] == ["dose_below_effective"]:
        return None
    if "dose_reduced" in step.reasons:
        return None
    return facts.as_of + dt.timedelta(days=need - step.days_at_adequate_dose)


def _not_improving(
    facts: Facts, definition: Definition, day: dt.date, add: _Add, upcoming: bool
) -> None:
    check = early_check(facts, definition)
    rule = definition.parameters.early_improvement
    if rule is None:
        return
    if check is None and upcoming:  # judged later, if the scores so far stay as they are
        opens = _early_check_opens(facts, definition)
        step = facts.current_step
        if opens is not None and step is not None and step.outcome_basis:
            check = opens, *_early_how(step)
    if check is None:
        return
    since, how, fall = check
    if fall >= rule.value.reduction or (day < since and not upcoming):
        return
    if isinstance(facts.current_step, ProcedureAssessment):  # judged from its start, in days
        days = definition.parameters.min_days_to_outcome.value
        why = (
            f"{how}; less than a {rule.value.reduction:.0%} fall {days} or more days into the "
            "course (early_improvement)"
        )
        sources: tuple[str | None, ...] = (
            rule.source,
            definition.parameters.min_days_to_outcome.source,
        )
    else:
        why = (
            f"{how}; less than a {rule.value.reduction:.0%} fall by {rule.value.weeks:g} weeks "
            "at an effective dose (early_improvement): response by 8–12 weeks is unlikely"
        )
        sources = (rule.source,)
    add("not_improving", since, why, *sources)


def schedule(
    record: PatientRecord,
    *,
    state: str,
    entered_state_on: dt.date,
    definition: Definition,
    as_of: dt.date,
    facts: Facts | None = None,
    patient: str = "",
) -> list[DueItem]:
    """Every item due now or later for a patient if nothing new is recorded, each on the date
    it falls due, most urgent first. The engine stores them on every write (`due_item`), so the
    worklist is an indexed `due_on <= as_of` query: time-driven items become due by date alone.
    An evaluation window that opens later is confirmed by evaluating the guards on that date.
    """
    since = definition.judged_since(state, entered_state_on)
    now = facts
    if now is not None and now.as_of == as_of and now.entered_state_on != since:
        # the same facts judged since another day: only the predicates' results differ
        now = replace(now, entered_state_on=since, memo={})
    if now is None or now.as_of != as_of:  # facts of another day answer another question
        now = derive(
            record,
            as_of=as_of,
            params=definition.parameters,
            catalog=definition.catalog,
            entered_state_on=since,
        )
    kind = definition.state_by_id[state].kind
    if kind == "final":
        return []
    items = due_items(
        state,
        entered_state_on=entered_state_on,
        facts=now,
        definition=definition,
        as_of=as_of,
        patient=patient,
        upcoming=True,
    )
    if kind != "decision" and not any(i.item == "evaluation_due" for i in items):
        windows = sorted(
            {
                t.evaluation_due_on
                for t in (now.current_trial, now.current_augmentation)
                if t is not None and t.evaluation_due_on is not None and t.evaluation_due_on > as_of
            }
        )
        for day in windows:  # the first window that opens the next decision
            then = derive(
                record,
                as_of=day,
                params=definition.parameters,
                catalog=definition.catalog,
                entered_state_on=since,
            )
            found = [
                i
                for i in due_items(
                    state,
                    entered_state_on=entered_state_on,
                    facts=then,
                    definition=definition,
                    patient=patient,
                )
                if i.item == "evaluation_due"
            ]
            if found:
                items += found
                break
    items.sort(key=sort_key)
    return items


def next_due_on(
    record: PatientRecord,
    *,
    state: str,
    entered_state_on: dt.date,
    definition: Definition,
    as_of: dt.date,
    facts: Facts | None = None,
) -> dt.date | None:
    """The first date on which the patient has a due item if nothing new is recorded (kept on
    the enrollment row, so the board counts due patients in SQL)."""
    items = schedule(
        record,
        state=state,
        entered_state_on=entered_state_on,
        definition=definition,
        as_of=as_of,
        facts=facts,
    )
    return min((i.due_on for i in items), default=None)
