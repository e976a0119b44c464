"""Evaluate the transitions out of a state for one patient's facts, and pick a recommendation."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from pathway.definition import Definition
from pathway.facts import Facts
from pathway.guards import evaluate
from pathway.results import PredicateResult, Tri, construct, tri_or


class GuardResult(BaseModel):
    """A trigger out of a state: where it leads, whether its guard holds, and why."""

    model_config = ConfigDict(frozen=True)

    trigger: str
    to: str
    result: Tri
    reasons: list[PredicateResult]


def guard_results(definition: Definition, facts: Facts, state: str) -> list[GuardResult]:
    """One result per trigger from `state`: recommendation order first, then declaration order."""
    out = []
    for trigger, transitions in definition.plan(state):
        if len(transitions) == 1:
            t = transitions[0]
            result, reasons = evaluate(t.guard, facts)
            dest = t.dest
        else:
            results = [(t.dest, *evaluate(t.guard, facts)) for t in transitions]
            result = tri_or([r for _, r, _ in results])
            dest = next((d for d, r, _ in results if r == "true"), results[0][0])
            reasons = [x for _, _, rs in results for x in rs]
        out.append(construct(GuardResult, trigger=trigger, to=dest, result=result, reasons=reasons))
    return out


def enabled_in_order(
    definition: Definition, facts: Facts, results: list[GuardResult], state: str
) -> list[str]:
    """The enabled triggers, in the order the recommendation walks them.

    A conditional step (`augment` when the outcome is partial or a response) places its trigger
    where its condition holds, so the recommendation is always the first one listed. Outside the
    decision state, the order of `results`.
    """
    enabled = [g.trigger for g in results if g.result == "true"]
    rec = definition.recommendation
    if state != rec.state or not enabled:
        return enabled
    out: list[str] = []
    for step in rec.order:
        if (
            step.trigger in enabled
            and step.trigger not in out
            and (step.when is None or evaluate(step.when, facts)[0] == "true")
        ):
            out.append(step.trigger)
    return out + [t for t in enabled if t not in out]


def recommend(
    definition: Definition, facts: Facts, results: list[GuardResult], state: str
) -> str | None:
    """The first enabled trigger in the recommendation order (None outside the decision state)."""
    rec = definition.recommendation
    enabled = {g.trigger for g in results if g.result == "true"}
    if state != rec.state:
        return next((g.trigger for g in results if g.result == "true"), None)
    for step in rec.order:
        if step.trigger in enabled and (
            step.when is None or evaluate(step.when, facts)[0] == "true"
        ):
            return step.trigger
    return None
