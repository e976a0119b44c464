"""The declarative model of a pathway definition: states, transitions, guards, parameters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from pathway.catalog import Catalog, default_catalog
from pathway.guards import All, AnyOf, Guard, Not, describe
from pathway.parameters import Param, Parameters
from pathway.predicates import FailedTrialsAtLeast
from pathway.yamlio import Problem, located

if TYPE_CHECKING:
    from pathway.compiled import CompiledDefinition

StateKind = Literal["treatment", "decision", "evaluation", "procedure", "continuing", "final"]
_ID = r"^[a-z][a-z0-9_]*$"


class _Model(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid", populate_by_name=True)


class Metadata(_Model):
    """Identity of a definition; a patient is pinned to (id, version) at enrollment."""

    id: str = Field(pattern=_ID)
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    title: str
    description: str = ""
    source: str = ""


class Phase(_Model):
    """A group of states drawn together (a cluster in diagrams)."""

    id: str = Field(pattern=_ID)
    label: str


class State(_Model):
    """A place a patient can be."""

    id: str = Field(pattern=_ID)
    kind: StateKind
    label: str
    description: str = ""
    phase: str | None = None
    initial: bool = False


class Transition(_Model):
    """A move from one of `source` to `dest` by `trigger`, allowed when `guard` is true.

    `source: "*"` means every state except `exclude` and final states.
    """

    trigger: str = Field(pattern=_ID)
    source: list[str] | Literal["*"]
    exclude: list[str] = []
    dest: str
    guard: Guard | None = None
    label: str = ""
    description: str = ""

    def guard_text(self) -> str:
        """The guard in clinical words: the YAML label, else a rendering of the tree."""
        return self.label or describe(self.guard)


class RecommendationStep(_Model):
    """One entry of the recommendation order: `trigger`, optionally only `when` a guard holds."""

    trigger: str
    when: Guard | None = None


class Recommendation(_Model):
    """At the decision `state`, the first enabled trigger in `order` is recommended."""

    state: str
    order: list[RecommendationStep] = Field(min_length=1)


class CatalogFiles(_Model):
    """Paths of the drug catalog and instrument file, relative to the definition."""

    drugs: str = "drugs.yaml"
    instruments: str = "instruments.yaml"


class Definition(_Model):
    """A whole pathway definition (one YAML file)."""

    metadata: Metadata
    catalog_files: CatalogFiles = Field(default_factory=CatalogFiles, alias="catalog")
    parameters: Parameters
    phases: list[Phase] = []
    states: list[State] = Field(min_length=1)
    transitions: list[Transition] = Field(min_length=1)
    recommendation: Recommendation
    _catalog: Catalog | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _parameters_named_exist(self) -> Definition:
        """A predicate naming a parameter (`failed_trials: {at_least: NAME}`) needs an integer
        parameter of that name in this definition."""
        problems: list[Problem] = []
        guards: list[tuple[tuple[str | int, ...], Guard | None]] = [
            (("transitions", i, "guard"), t.guard) for i, t in enumerate(self.transitions)
        ]
        guards += [
            (("recommendation", "order", i, "when"), s.when)
            for i, s in enumerate(self.recommendation.order)
        ]
        for path, g in guards:
            for where, leaf in _leaves(g, path):
                if isinstance(leaf, FailedTrialsAtLeast):
                    param = getattr(self.parameters, leaf.at_least, None)
                    if not isinstance(param, Param) or not isinstance(param.value, int):
                        problems.append(
                            (
                                (*where, "at_least"),
                                "must name an integer parameter of this definition",
                                leaf.at_least,
                            )
                        )
        if problems:
            raise located(problems)
        return self

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy (with `update` applied) that works out its own derived values: pydantic's copy
        would carry this definition's compiled form, lookups and plans over, so a copy with other
        parameters would still be evaluated with these."""
        copy = super().model_copy(update=update, deep=deep)
        for name in _DERIVED:
            copy.__dict__.pop(name, None)
        return copy

    @property
    def key(self) -> tuple[str, str]:
        return (self.metadata.id, self.metadata.version)

    @property
    def catalog(self) -> Catalog:
        # read the private slot directly: `self._catalog` goes through pydantic's __getattr__
        # (~3 µs, and the engine asks several times per command)
        private = self.__pydantic_private__
        found = private.get("_catalog") if private else None
        return found or default_catalog()

    @cached_property
    def state_by_id(self) -> dict[str, State]:
        return {s.id: s for s in self.states}

    @property
    def initial_state(self) -> str:
        return next(s.id for s in self.states if s.initial)

    def judged_since(self, state: str, entered: dt.date) -> dt.date | None:
        """Since when the guards out of `state` judge what happened (`Facts.entered_state_on`):
        the day it was entered, except in the initial state, entered at enrollment, where the
        record's whole history is judged for the first time (None)."""
        return None if state == self.initial_state else entered

    def sources_of(self, t: Transition) -> list[str]:
        """The states a transition leaves from, with `*` expanded (declaration order)."""
        if t.source == "*":
            return [s.id for s in self.states if s.kind != "final" and s.id not in t.exclude]
        return list(t.source)

    @cached_property
    def edges(self) -> list[tuple[str, Transition]]:
        """(source state, transition) for every declared edge, in declaration order."""
        return [(src, t) for t in self.transitions for src in self.sources_of(t)]

    @cached_property
    def _outgoing(self) -> dict[str, list[Transition]]:
        out: dict[str, list[Transition]] = {s.id: [] for s in self.states}
        for src, t in self.edges:
            out.setdefault(src, []).append(t)
        return out

    def transitions_from(self, state: str) -> list[Transition]:
        """Transitions leaving a state, in declaration order."""
        return self._outgoing.get(state, [])

    @cached_property
    def _plans(self) -> dict[str, list[tuple[str, list[Transition]]]]:
        rec = self.recommendation
        plans = {}
        for state, outgoing in self._outgoing.items():
            order = [s.trigger for s in rec.order] if state == rec.state else []
            triggers = dict.fromkeys([*order, *(t.trigger for t in outgoing)])
            plans[state] = [
                (trig, ts)
                for trig in triggers
                if (ts := [t for t in outgoing if t.trigger == trig])
            ]
        return plans

    @cached_property
    def compiled(self) -> CompiledDefinition:
        """What evaluation precomputes from this definition (guard plans, trial rules): built by
        the loader, or on first use; it lives and dies with this object."""
        from pathway.compiled import CompiledDefinition

        return CompiledDefinition(self)

    def plan(self, state: str) -> list[tuple[str, list[Transition]]]:
        """(trigger, its transitions) from a state: recommendation order, then declaration."""
        return self._plans.get(state, [])

    def triggers_from(self, state: str) -> list[str]:
        """Distinct triggers available from a state."""
        return list(dict.fromkeys(t.trigger for t in self.transitions_from(state)))


# what a Definition works out once and keeps (cached properties): never copied
_DERIVED = tuple(n for n, v in vars(Definition).items() if isinstance(v, cached_property))


def _leaves(
    g: Guard | None, path: tuple[str | int, ...]
) -> list[tuple[tuple[str | int, ...], Guard]]:
    """(path, predicate) for every leaf of a guard tree."""
    if g is None:
        return []
    if isinstance(g, All | AnyOf):
        key = "all" if isinstance(g, All) else "any"
        parts = g.all if isinstance(g, All) else g.any
        return [leaf for i, p in enumerate(parts) for leaf in _leaves(p, (*path, key, i))]
    if isinstance(g, Not):
        return _leaves(g.not_, (*path, "not"))
    return [(path, g)]
