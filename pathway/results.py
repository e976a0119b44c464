"""Three-valued results and the reasons every verdict carries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

Tri = Literal["true", "false", "unknown"]
M = TypeVar("M", bound=BaseModel)


def construct(cls: type[M], **values: Any) -> M:
    """Build a model from trusted, complete values without validation (hot paths only).

    Like `model_construct`, but several times cheaper: callers pass every field.
    """
    return builder(cls)(values)


def construct_from(cls: type[M], values: dict[str, Any]) -> M:
    """`construct` taking the field dict itself (it becomes the instance's `__dict__`)."""
    return builder(cls)(values)


def builder(cls: type[M]) -> Callable[[dict[str, Any]], M]:
    """A function building `cls` instances from trusted, complete field dicts, unvalidated.

    The one place that reaches into pydantic's internals (its major version is pinned in
    pyproject.toml; tests/pathway/test_results.py checks the result against `model_validate`).
    A BaseModel keeps its instance state in four slots (`__dict__`, `__pydantic_fields_set__`,
    `__pydantic_extra__`, `__pydantic_private__`), which `model_construct` fills after checking
    and defaulting every field: ~10 µs a model. Setting the slots through their descriptors
    takes ~0.9 µs (`object.__setattr__` by name: ~1.6 µs); an assessment builds ~30 models, so
    this is ~8% of `assess` (measured with benchmarks/assess.py, pydantic 2.14).

    The dict becomes the instance's `__dict__`, and its key order is the order `model_dump`
    emits: pass the fields in declaration order. All instances share one `fields_set` (every
    field is given): it is only ever read (the models are frozen; `model_copy` copies it), and
    one set per class instead of one per instance leaves less for the cyclic GC to track.
    """
    new = object.__new__
    slots = BaseModel.__dict__
    set_dict = slots["__dict__"].__set__
    set_fields_set = slots["__pydantic_fields_set__"].__set__
    set_extra = slots["__pydantic_extra__"].__set__
    set_private = slots["__pydantic_private__"].__set__
    fields_set = set(cls.model_fields)
    n = len(fields_set)

    def build(values: dict[str, Any]) -> M:
        obj = new(cls)
        set_dict(obj, values)
        set_fields_set(obj, fields_set if len(values) == n else set(values))
        set_extra(obj, None)
        set_private(obj, None)
        return obj

    return build


def field_template(cls: type[BaseModel], order: Iterable[str] | None = None) -> dict[str, Any]:
    """Every field of `cls` (set to None), in `order` (default: declaration order): `.copy()` it,
    fill in every field, and pass it to `builder(cls)`.

    The template is made the way an instance's attribute dict is, so its copies share one key
    table with it ("split" dicts): for a model with many fields, a copy is a third of the size of
    a new dict and quicker to fill. Where that does not hold (the class's key table was started
    in another order), it is a plain dict.
    """
    fields = list(cls.model_fields if order is None else order)
    if sorted(fields) != sorted(cls.model_fields):
        raise ValueError(f"{cls.__name__}: not its fields: {fields}")
    probe = object.__new__(cls)
    for name in fields:
        object.__setattr__(probe, name, None)  # stored as instance attributes are
    template: dict[str, Any] = probe.__dict__
    return template if list(template) == fields else dict.fromkeys(fields)


def tri(value: bool | None) -> Tri:
    """True/False/None → 'true'/'false'/'unknown'."""
    return "unknown" if value is None else ("true" if value else "false")


def tri_and(results: Iterable[Tri]) -> Tri:
    """False if any part is false, else unknown if any is unknown, else true."""
    results = list(results)
    return "false" if "false" in results else ("unknown" if "unknown" in results else "true")


def tri_or(results: Iterable[Tri]) -> Tri:
    """True if any part is true, else unknown if any is unknown, else false."""
    results = list(results)
    return "true" if "true" in results else ("unknown" if "unknown" in results else "false")


def tri_not(result: Tri) -> Tri:
    """Negation that keeps unknown."""
    return _NOT[result]


_NOT: dict[Tri, Tri] = {"true": "false", "false": "true", "unknown": "unknown"}


class PredicateResult(BaseModel):
    """Why a named predicate came out as it did: the value it used, the threshold, the evidence."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    predicate: str
    result: Tri
    detail: str
    source: str | None = None
    value: Any = None
    threshold: Any = None
    evidence_date: dt.date | None = None


def reason(
    predicate: str,
    result: Tri,
    detail: str,
    *,
    source: str | None = None,
    value: Any = None,
    threshold: Any = None,
    evidence_date: dt.date | None = None,
) -> PredicateResult:
    """Build a PredicateResult without re-validating trusted values (hot path)."""
    return _new_result(
        {
            "predicate": predicate,
            "result": result,
            "detail": detail,
            "source": source,
            "value": value,
            "threshold": threshold,
            "evidence_date": evidence_date,
        }
    )


_new_result = builder(PredicateResult)
result_from = _new_result  # `reason`, from the result's field dict (every field, in field order)
