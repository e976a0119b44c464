"""Evaluate the transitions out of a state for one patient's facts, and pick a recommendation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict

from pathway.definition import Definition
from pathway.facts import Facts
from pathway.guards import Expr, flatten, tri_of
from pathway.predicates import Predicate
from pathway.results import PredicateResult, Tri, builder, tri_or


class GuardResult(BaseModel):
    """A trigger out of a state: where it leads, whether its guard holds, and why."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    trigger: str
    to: str
    result: Tri
    reasons: list[PredicateResult]


_new_guard = builder(GuardResult)


class Decision(NamedTuple):
    """What the guards out of a state decide for one patient: every trigger's result, the
    enabled triggers (in the order the recommendation walks them) and the recommendation."""

    guards: list[GuardResult]
    enabled: list[str]
    recommended: str | None


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What the guards out of a state decide, given the result of each predicate they use."""

    # per trigger, in plan order: its GuardResult's fields but the reasons (to copy), and its
    # slice of the reasons
    guards: tuple[tuple[dict[str, Any], slice], ...]
    enabled: tuple[str, ...]  # in the order the recommendation walks them
    recommended: str | None  # as `recommend` picks it


@dataclass(frozen=True, slots=True)
class _StatePlan:
    """The guards out of one state, compiled once per definition.

    Every distinct predicate (by content) is evaluated once per patient and its result shared by
    every guard using it. A trigger's reasons are the results of the leaves of its guards, in
    order, so they are known in advance: laid end to end for all triggers (`gather`), each
    trigger's reasons are a slice. Whether each guard holds, where it leads and the
    recommendation depend only on the predicates' three-valued results: they are computed once
    per distinct combination of results and looked up after that.
    """

    keys: tuple[str, ...]  # memo key (content) of each distinct predicate
    runs: tuple[Callable[[Facts], PredicateResult], ...]
    triggers: tuple[str, ...]
    options: tuple[tuple[tuple[str, Expr | None], ...], ...]  # per trigger: (dest, guard)
    # predicate results → every trigger's reasons, end to end; and each trigger's slice of them
    gather: Callable[[list[PredicateResult]], Sequence[PredicateResult]]
    spans: tuple[slice, ...]
    # recommendation steps (trigger, `when`) at the decision state (None elsewhere)
    steps: tuple[tuple[str, Expr | None], ...] | None
    decision: bool  # this is the recommendation's state
    outcomes: dict[tuple[Tri, ...], _Outcome]

    def outcome(self, values: tuple[Tri, ...]) -> _Outcome:
        hit = self.outcomes.get(values)
        if hit is None:
            hit = self._decide(values)
            if len(self.outcomes) < _MAX_OUTCOMES:
                self.outcomes[values] = hit
        return hit

    def _decide(self, values: tuple[Tri, ...]) -> _Outcome:
        results: list[tuple[Tri, str]] = []
        for options in self.options:
            tris = [("true" if g is None else tri_of(g, values), dest) for dest, g in options]
            result = tris[0][0] if len(tris) == 1 else tri_or([r for r, _ in tris])
            dest = next((d for r, d in tris if r == "true"), tris[0][1])
            results.append((result, dest))
        enabled = [t for t, (r, _) in zip(self.triggers, results, strict=True) if r == "true"]
        guards = tuple(
            ({"trigger": trigger, "to": dest, "result": result, "reasons": None}, span)
            for trigger, (result, dest), span in zip(
                self.triggers, results, self.spans, strict=True
            )
        )
        if not self.decision:
            first = enabled[0] if enabled else None
            return _Outcome(guards, tuple(enabled), first)
        assert self.steps is not None
        ordered: list[str] = []
        for trigger, when in self.steps:
            if (
                trigger in enabled
                and trigger not in ordered
                and (when is None or tri_of(when, values) == "true")
            ):
                ordered.append(trigger)
        recommended = ordered[0] if ordered else None
        ordered += [t for t in enabled if t not in ordered]
        return _Outcome(guards, tuple(ordered), recommended)


_MAX_OUTCOMES = 4096  # distinct combinations remembered per state (3^predicates at most)


def _plan(
    definition: Definition, state: str, trigger: str | None = None, *, recommend: bool = True
) -> _StatePlan:
    """The compiled plan of every trigger from a state, or (`trigger`) of that one alone;
    `recommend=False` leaves out the recommendation's own conditions. Plans belong to the
    definition's compiled form (`Definition.compiled`) and die with it."""
    return definition.compiled.plan(state, trigger, recommend=recommend)


def compile_plan(
    definition: Definition, state: str, only: str | None = None, *, recommend: bool = True
) -> _StatePlan:
    table: dict[str, Predicate] = {}
    triggers, options, spans = [], [], []
    order: list[int] = []  # the leaves of every guard, trigger after trigger
    for trigger, transitions in definition.plan(state):
        if only is not None and trigger != only:
            continue
        start = len(order)
        compiled = tuple(
            (t.dest, None if t.guard is None else flatten(t.guard, table, order))
            for t in transitions
        )
        triggers.append(trigger)
        options.append(compiled)
        spans.append(slice(start, len(order)))
    rec = definition.recommendation
    steps: tuple[tuple[str, Expr | None], ...] | None = None
    # one trigger alone recommends nothing
    decision = state == rec.state and only is None and recommend
    if decision:  # a `when` guard's own predicates join the table (evaluated, not reported)
        steps = tuple(
            (s.trigger, None if s.when is None else flatten(s.when, table, [])) for s in rec.order
        )
    return _StatePlan(
        keys=tuple(table),
        runs=tuple(p.runner() for p in table.values()),
        triggers=tuple(triggers),
        options=tuple(options),
        gather=_gatherer(tuple(order)),
        spans=tuple(spans),
        steps=steps,
        decision=decision,
        outcomes={},
    )


def _gatherer(
    leaves: tuple[int, ...],
) -> Callable[[list[PredicateResult]], Sequence[PredicateResult]]:
    if len(leaves) > 1:
        return itemgetter(*leaves)  # a tuple of the items at those indices
    return lambda results: [results[i] for i in leaves]


_result_of = attrgetter("result")


def _run(
    plan: _StatePlan, facts: Facts, *, remember: bool = True
) -> tuple[list[GuardResult], _Outcome]:
    """The guard results of a plan, and its outcome; `remember`: keep the predicate results in
    `facts.memo` for later evaluations with the same facts."""
    memo = facts.memo
    if memo:
        results: list[PredicateResult] = []
        for key, run in zip(plan.keys, plan.runs, strict=True):
            r = memo.get(key)
            if r is None:
                r = memo[key] = run(facts)
            results.append(r)
    else:  # fresh facts (as in `assess`): nothing to look up
        results = [run(facts) for run in plan.runs]
        if remember:
            memo.update(zip(plan.keys, results, strict=True))
    outcome = plan.outcome(tuple(map(_result_of, results)))
    reasons = list(plan.gather(results))
    guards = []
    for fields, span in outcome.guards:
        values = fields.copy()  # (copying a small dict is cheaper than building it)
        values["reasons"] = reasons[span]
        guards.append(_new_guard(values))  # keys in field order (model_dump follows it)
    return guards, outcome


def enabled_triggers(definition: Definition, facts: Facts, state: str) -> tuple[str, ...]:
    """The enabled triggers from a state (in plan order): the guards' evaluation without the
    recommendation's conditions, the results or their reasons, for callers that only ask
    whether a move is possible (the predicate results stay in `facts.memo`)."""
    plan = _plan(definition, state, recommend=False)
    memo = facts.memo
    values = []
    for key, run in zip(plan.keys, plan.runs, strict=True):
        r = memo.get(key)
        if r is None:
            r = memo[key] = run(facts)
        values.append(r.result)
    return plan.outcome(tuple(values)).enabled


def guard_results(definition: Definition, facts: Facts, state: str) -> list[GuardResult]:
    """One result per trigger from `state`: recommendation order first, then declaration order."""
    return _run(_plan(definition, state), facts)[0]


def guard_result(definition: Definition, facts: Facts, state: str, trigger: str) -> GuardResult:
    """The result of one trigger's guard from `state` (a trigger that does not leave the state:
    KeyError). Exactly the entry of `guard_results` for it; only its own predicates run."""
    guards = _run(_plan(definition, state, trigger), facts)[0]
    if not guards:
        raise KeyError(trigger)
    return guards[0]


def decide(definition: Definition, facts: Facts, state: str, *, remember: bool = True) -> Decision:
    """`guard_results`, the enabled triggers (in the order the recommendation walks them: a
    conditional step places its trigger where its condition holds, so the recommendation is
    always the first listed) and `recommend` of a state in one pass.

    `remember=False` when nothing evaluates these facts afterwards (as in `assess`): the
    predicate results are then not kept in `facts.memo`.
    """
    guards, outcome = _run(_plan(definition, state), facts, remember=remember)
    return Decision(guards, list(outcome.enabled), outcome.recommended)


def recommend(
    definition: Definition, facts: Facts, results: list[GuardResult], state: str
) -> str | None:
    """The first enabled trigger in the recommendation order (None outside the decision state:
    there, the first enabled trigger). `results` are `guard_results(definition, facts, state)`:
    the recommendation is the one `decide` gives (the predicates' results are read from
    `facts.memo`, so nothing is evaluated twice)."""
    del results  # decided from the same plan as the results themselves
    return _run(_plan(definition, state), facts)[1].recommended
