"""Three-valued results and the reasons every verdict carries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

Tri = Literal["true", "false", "unknown"]
M = TypeVar("M", bound=BaseModel)

# BaseModel keeps its instance state in four slots; their descriptors set them directly, which
# is cheaper than `object.__setattr__` by name (hot path: an assessment builds ~30 models).
_new = object.__new__
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def construct(cls: type[M], **values: Any) -> M:
    """Build a model from trusted, complete values without validation (hot paths only).

    Like `model_construct`, but several times cheaper: callers pass every field.
    """
    return construct_from(cls, values)


def construct_from(cls: type[M], values: dict[str, Any]) -> M:
    """`construct` taking the field dict itself (it becomes the instance's `__dict__`)."""
    return builder(cls)(values)


def builder(cls: type[M]) -> Callable[[dict[str, Any]], M]:
    """A function building `cls` instances from trusted, complete field dicts, unvalidated.

    The dict becomes the instance's `__dict__`, and its key order is the order `model_dump`
    emits: pass the fields in declaration order. All instances share one `fields_set` (every
    field is given): it is only ever read (the models are frozen; `model_copy` copies it), and
    one set per class instead of one per instance leaves less for the cyclic GC to track.
    """
    build = _BUILDERS.get(cls)
    if build is None:
        fields_set = set(cls.model_fields)

        def build(values: dict[str, Any]) -> M:
            obj = _new(cls)
            _set_dict(obj, values)
            _set_fields_set(obj, fields_set if len(values) == len(fields_set) else set(values))
            _set_extra(obj, None)
            _set_private(obj, None)
            return obj

        _BUILDERS[cls] = build
    return build


_BUILDERS: dict[type[Any], Callable[[dict[str, Any]], Any]] = {}


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

    model_config = ConfigDict(frozen=True)

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
    # `construct_from`, inlined: ~15 of these per assessment
    obj = _new(PredicateResult)
    _set_dict(
        obj,
        {
            "predicate": predicate,
            "result": result,
            "detail": detail,
            "source": source,
            "value": value,
            "threshold": threshold,
            "evidence_date": evidence_date,
        },
    )
    _set_fields_set(obj, _PREDICATE_FIELDS)
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


def result_from(values: dict[str, Any]) -> PredicateResult:
    """`reason`, from the result's field dict (every field, in field order)."""
    obj = _new(PredicateResult)
    _set_dict(obj, values)
    _set_fields_set(obj, _PREDICATE_FIELDS)
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


_PREDICATE_FIELDS = set(PredicateResult.model_fields)
