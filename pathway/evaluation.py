"""Evaluate the transitions out of a state for one patient's facts, and pick a recommendation."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from pathway.definition import Definition
from pathway.facts import Facts
from pathway.guards import evaluate
from pathway.results import PredicateResult, Tri, tri_or


class GuardResult(BaseModel):
    """A trigger out of a state: where it leads, whether its guard holds, and why."""

    model_config = ConfigDict(frozen=True)

    trigger: str
    to: str
    result: Tri
    reasons: list[PredicateResult]


def guard_results(definition: Definition, facts: Facts, state: str) -> list[GuardResult]:
    """One result per trigger from `state`: recommendation order first, then declaration order."""
    rec = definition.recommendation
    order = [s.trigger for s in rec.order] if state == rec.state else []
    triggers = list(dict.fromkeys([*order, *definition.triggers_from(state)]))
    by_trigger: dict[str, list[tuple[str, Tri, list[PredicateResult]]]] = {}
    for t in definition.transitions_from(state):
        result, reasons = evaluate(t.guard, facts)
        by_trigger.setdefault(t.trigger, []).append((t.dest, result, reasons))
    out = []
    for trig in triggers:
        options = by_trigger.get(trig)
        if not options:
            continue
        result = tri_or(r for _, r, _ in options)
        dest = next((d for d, r, _ in options if r == "true"), options[0][0])
        reasons = [x for _, _, rs in options for x in rs]
        out.append(GuardResult.model_construct(trigger=trig, to=dest, result=result,
                                               reasons=reasons))
    return out


def recommend(definition: Definition, facts: Facts, results: list[GuardResult],
              state: str) -> str | None:
    """The first enabled trigger in the recommendation order (None outside the decision state)."""
    rec = definition.recommendation
    enabled = {g.trigger for g in results if g.result == "true"}
    if state != rec.state:
        return next((g.trigger for g in results if g.result == "true"), None)
    for step in rec.order:
        if step.trigger in enabled and (step.when is None or evaluate(step.when, facts)[0] == "true"):
            return step.trigger
    return None
