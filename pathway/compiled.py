"""A definition's compiled form: guard plans, trial rules, what `assess` reads, what the engine
derives (its machine); it dies with the definition."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pathway.results import construct_from
from pathway.trials import TrialRules, trial_rules

if TYPE_CHECKING:
    from pathway.assess import DefinitionRef
    from pathway.catalog import Catalog
    from pathway.definition import Definition
    from pathway.evaluation import _StatePlan
    from pathway.parameters import Parameters

T = TypeVar("T")
_MISSING: Any = object()


class CompiledDefinition:
    """Everything evaluation precomputes from one `Definition`, built once (by the loader, or on
    first use of `Definition.compiled`) and held by that definition only: no module keeps a
    reference, so reloading an edited definition leaves nothing of the old one behind.

    It holds the guard plan of every state (each with its bounded table of outcomes), the trial
    rules (the parameters a trial assessment reads, unwrapped), the catalog and parameters, the
    decision state, the `DefinitionRef` every assessment shares, the staging results of
    `assess` (one per distinct staging), and what other layers derive once per definition and
    keep here (`derived`: the engine's content fingerprint and `transitions` machine), so that
    nothing of a definition outlives it in a module.
    """

    __slots__ = (
        "_definition",
        "_derived",
        "_plans",
        "catalog",
        "decision_state",
        "parameters",
        "ref",
        "rules",
        "staging_results",
    )

    def __init__(self, definition: Definition) -> None:
        from pathway.assess import DefinitionRef
        from pathway.evaluation import compile_plan

        self.catalog: Catalog = definition.catalog
        self.parameters: Parameters = definition.parameters
        self.decision_state = definition.recommendation.state
        self.ref: DefinitionRef = construct_from(
            DefinitionRef, {"id": definition.metadata.id, "version": definition.metadata.version}
        )
        self.rules: TrialRules = trial_rules(definition.parameters)
        self.staging_results: dict[int, tuple[object, Any]] = {}
        self._derived: dict[str, Any] = {}
        # every state's plan, with and without the recommendation's conditions; a plan of one
        # trigger alone (`guard_result`) is compiled when first asked for
        self._plans: dict[tuple[str, str | None, bool], _StatePlan] = {}
        for state in definition.state_by_id:
            for recommend in (True, False):
                self._plans[state, None, recommend] = compile_plan(
                    definition, state, recommend=recommend
                )
        # a weak reference: the definition holds this object, not the other way round
        self._definition = weakref.ref(definition)

    def plan(self, state: str, trigger: str | None = None, *, recommend: bool = True) -> _StatePlan:
        """The compiled plan of every trigger from a state (`trigger`: of that one alone)."""
        found = self._plans.get((state, trigger, recommend))
        if found is None:
            from pathway.evaluation import compile_plan

            definition = self._definition()
            if definition is None:  # pragma: no cover - the definition holds this object
                raise ReferenceError("the definition of this compiled form is gone")
            found = self._plans[state, trigger, recommend] = compile_plan(
                definition, state, trigger, recommend=recommend
            )
        return found

    def derived(self, key: str, make: Callable[[], T]) -> T:
        """A value a caller derives once per definition and keeps here, so it lives exactly as
        long as the definition (the engine's content fingerprint, its `transitions` machine).

        `key` names the value, `make` builds it on first use. On the hot path: one lookup. Two
        threads asking first may both build it; the first one stored is kept and returned."""
        value: T = self._derived.get(key, _MISSING)
        if value is _MISSING:
            value = self._derived.setdefault(key, make())
        return value
