"""The pathway as a `transitions` state machine: one Machine per loaded definition, held by the
definition's compiled form (built on first use, gone with the definition: no module-level cache).

No machine and no registered model per patient. Guards are evaluated by `pathway` (three-valued,
with reasons) before the machine is consulted; a move whose guard is not true raises
`TransitionBlocked`, a trigger that does not leave the current state raises `InvalidTrigger`.

A move then fires through the machine, the one move path: the trigger's event of the shared
machine is fired on a throwaway subject holding the patient's state (never registered with the
machine); the machine picks the edge (of those the trigger has from the state) whose destination
the guards chose, and the subject's new state is the move's destination.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict
from transitions import Machine

from pathway.definition import Definition
from pathway.errors import InvalidTrigger, TransitionBlocked
from pathway.evaluation import GuardResult, decide, guard_result, guard_results
from pathway.facts import Facts
from pathway.results import construct


class Step(BaseModel):
    """A move the guards allow: trigger, from, to, and the guard result that allowed it."""

    model_config = ConfigDict(frozen=True)

    trigger: str
    from_state: str
    to_state: str
    guard: GuardResult


@dataclass(frozen=True)
class PathwayMachine:
    """A definition's shared Machine with its per-state trigger lists (never holds patients, and
    no reference to its definition: the definition holds it)."""

    key: tuple[str, str]
    machine: Any
    triggers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def allowed(self, state: str) -> tuple[str, ...]:
        """Triggers that leave `state`, in declaration order."""
        return self.triggers.get(state, ())


def _chosen(event: Any) -> bool:
    """Machine condition: take the edge whose destination the guards chose."""
    return bool(event.transition.dest == event.model.chosen)


def machine_for(definition: Definition) -> PathwayMachine:
    """The machine of a definition: built on first use and kept by the definition's compiled
    form, so it lives exactly as long as the definition (an edited file loads as a new
    definition, with a machine of its own)."""
    return definition.compiled.derived("transitions machine", lambda: _build(definition))


def _build(definition: Definition) -> PathwayMachine:
    machine = Machine(
        model=None,
        states=[s.id for s in definition.states],
        transitions=[
            {"trigger": t.trigger, "source": src, "dest": t.dest, "conditions": [_chosen]}
            for src, t in definition.edges
        ],
        initial=definition.initial_state,
        auto_transitions=False,
        ignore_invalid_triggers=False,
        send_event=True,
    )
    triggers = {s.id: tuple(definition.triggers_from(s.id)) for s in definition.states}
    return PathwayMachine(key=definition.key, machine=machine, triggers=triggers)


def guard_for(definition: Definition, facts: Facts, state: str, trigger: str) -> GuardResult:
    """The guard result of one trigger from a state (InvalidTrigger if it does not leave it).

    The same evaluation as `pathway.guard_results` for the state, restricted to this trigger
    (predicate results are shared through the facts' memo), so a move and `status` can never
    disagree on a guard.
    """
    pm = machine_for(definition)
    if trigger not in pm.allowed(state):
        raise InvalidTrigger(trigger, state, list(pm.allowed(state)))
    return guard_result(definition, facts, state, trigger)


class _Subject:
    """A throwaway model holding one patient's state for the duration of one command (the
    machine reads and sets its `state`; `chosen` is the destination the guards picked)."""

    def __init__(self, state: str, chosen: str) -> None:
        self.state = state
        self.chosen = chosen


def step(definition: Definition, state: str, trigger: str, facts: Facts) -> Step:
    """Check a move against the guards and fire it through the machine, which decides the
    destination (TransitionBlocked / InvalidTrigger)."""
    guard = guard_for(definition, facts, state, trigger)
    if guard.result != "true":
        raise TransitionBlocked(trigger, state, guard.result, guard.reasons)
    machine = machine_for(definition).machine
    subject = _Subject(state, guard.to)
    # The event fired on the subject directly: `add_model` would bind every trigger and state
    # callback to it first, which costs more than the rest of the move's evaluation.
    moved = machine.events[trigger].trigger(subject)
    if not moved:  # no edge of this trigger leads where the guards chose
        raise TransitionBlocked(trigger, state, "false", guard.reasons)
    return construct(Step, trigger=trigger, from_state=state, to_state=subject.state, guard=guard)


def evaluate_state(definition: Definition, state: str, facts: Facts) -> list[GuardResult]:
    """Every trigger out of a state with its guard result and reasons (no database)."""
    return guard_results(definition, facts, state)


def enabled_triggers(definition: Definition, state: str, facts: Facts) -> list[str]:
    """The triggers whose guard is true from a state, in recommendation order (no database)."""
    return decide(definition, facts, state).enabled
