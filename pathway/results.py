"""Three-valued results and the reasons every verdict carries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

Tri = Literal["true", "false", "unknown"]
M = TypeVar("M", bound=BaseModel)
_set = object.__setattr__


def construct(cls: type[M], **values: Any) -> M:
    """Build a model from trusted, complete values without validation (hot paths only).

    Like `model_construct`, but several times cheaper: callers pass every field.
    """
    obj = cls.__new__(cls)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", set(values))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


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
    return construct(
        PredicateResult,
        predicate=predicate,
        result=result,
        detail=detail,
        source=source,
        value=value,
        threshold=threshold,
        evidence_date=evidence_date,
    )
