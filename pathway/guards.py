"""Guards: trees of `all` / `any` / `not` over named predicates, evaluated three-valued."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, TypeAlias

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from pathway.facts import Facts
from pathway.predicates import Predicate
from pathway.results import PredicateResult, Tri, tri_and, tri_not, tri_or


class _Node(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid", populate_by_name=True)


class All(_Node):
    """True when every part is true (false if any is false, else unknown)."""

    all: list[Guard] = Field(min_length=1)


class AnyOf(_Node):
    """True when some part is true (unknown if none is true and some are unknown)."""

    any: list[Guard] = Field(min_length=1)


class Not(_Node):
    """Negation; unknown stays unknown."""

    not_: Guard = Field(alias="not")


def _kind(v: Any) -> str:
    # Tags are bracketed so that error locations never mistake them for the keys `all`, `any`,
    # `not` or `pred` of the YAML (see yamlio.data_path).
    if isinstance(v, dict):
        for key in ("all", "any", "not"):
            if key in v:
                return f"guard[{key}]"
        return "guard[pred]"
    return _TAGS.get(type(v), "guard[pred]")


Guard = Annotated[
    Annotated[All, Tag("guard[all]")]
    | Annotated[AnyOf, Tag("guard[any]")]
    | Annotated[Not, Tag("guard[not]")]
    | Annotated[Predicate, Tag("guard[pred]")],
    Discriminator(_kind),
]
_TAGS: dict[type, str] = {All: "guard[all]", AnyOf: "guard[any]", Not: "guard[not]"}
# (the recursive references resolve when the models are first built: `defer_build`)


def evaluate(guard: Guard | None, facts: Facts) -> tuple[Tri, list[PredicateResult]]:
    """Evaluate a guard; every predicate is evaluated so every reason is reported (in leaf
    order). Equal predicates share one result, kept in `facts.memo`. Transitions are evaluated
    through their state's compiled plan (`pathway.evaluation`); this is for a guard alone."""
    if guard is None:
        return "true", []
    table: dict[str, Predicate] = {}
    order: list[int] = []
    expr = flatten(guard, table, order)
    memo = facts.memo
    results = []
    for key, predicate in table.items():
        r = memo.get(key)
        if r is None:
            r = memo[key] = predicate.runner()(facts)
        results.append(r)
    return tri_of(expr, [r.result for r in results]), [results[i] for i in order]


# A guard compiled over a table of distinct predicates (see `flatten`): a leaf is the index of its
# predicate in the table; a group is ("all" | "any", parts); a negation is ("not", (part,)).
Expr: TypeAlias = int | tuple[str, tuple["Expr", ...]]


def flatten(g: Guard, table: dict[str, Predicate], order: list[int]) -> Expr:
    """Compile a guard over `table` (predicates by content key, in first-use order; new ones
    are added). `order` receives the index of every leaf in evaluation order, repeats included:
    the order `evaluate` reports its reasons in."""
    if isinstance(g, All | AnyOf):
        parts = g.all if isinstance(g, All) else g.any
        return (
            "all" if isinstance(g, All) else "any",
            tuple(flatten(p, table, order) for p in parts),
        )
    if isinstance(g, Not):
        return ("not", (flatten(g.not_, table, order),))
    key = g.key
    if key not in table:
        table[key] = g
    i = list(table).index(key)
    order.append(i)
    return i


def tri_of(expr: Expr, values: Sequence[Tri]) -> Tri:
    """The three-valued result of a flattened guard, given the result of each predicate."""
    if isinstance(expr, int):
        return values[expr]
    op, parts = expr
    if op == "not":
        return tri_not(tri_of(parts[0], values))
    results = [tri_of(p, values) for p in parts]
    return tri_and(results) if op == "all" else tri_or(results)


def predicates_in(g: Guard | None) -> list[str]:
    """Names of the predicates a guard uses, in order."""
    if g is None:
        return []
    if isinstance(g, All):
        return [n for p in g.all for n in predicates_in(p)]
    if isinstance(g, AnyOf):
        return [n for p in g.any for n in predicates_in(p)]
    if isinstance(g, Not):
        return predicates_in(g.not_)
    return [g.pred]


def describe(g: Guard | None) -> str:
    """A compact, readable rendering of a guard tree (used when no label is given)."""
    if g is None:
        return "always"
    if isinstance(g, All):
        return " and ".join(_paren(p) for p in g.all)
    if isinstance(g, AnyOf):
        return " or ".join(_paren(p) for p in g.any)
    if isinstance(g, Not):
        return f"not {_paren(g.not_)}"
    params = g.model_dump(exclude={"pred"}, by_alias=True, exclude_defaults=True)
    args = ", ".join(f"{k}={'/'.join(v) if isinstance(v, list) else v}" for k, v in params.items())
    name = g.pred.replace("_", " ")
    return f"{name} {args}".strip() if not args else f"{name}({args})"


def _paren(g: Guard) -> str:
    s = describe(g)
    return f"({s})" if isinstance(g, All | AnyOf) else s
