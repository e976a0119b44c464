"""A simulated patient and the dated events of their story, and the unvalidated constructor the
stories build them with (the hot path)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from pathway.evaluation import GuardResult
from pathway.record import PatientRecord

Ending = Literal["horizon", "follow_up_done", "dropout", "final", "max_steps", "no_enabled_move"]
M = TypeVar("M", bound=BaseModel)


class SimEvent(BaseModel):
    """One dated entry of a story: a fact (an engine fact payload), a transition or an override."""

    model_config = ConfigDict(frozen=True)

    on: dt.date
    kind: Literal["fact", "transition", "override"]
    fact: dict[str, Any] | None = None
    trigger: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    guard: GuardResult | None = None
    reason_code: str | None = None
    note: str | None = None
    overridden: tuple[GuardResult, ...] = ()


class SimulatedPatient(BaseModel):
    """A simulated patient: enrollment, events in order, and where the story left them."""

    model_config = ConfigDict(frozen=True)

    patient_id: str
    enrolled_on: dt.date
    header: dict[str, Any]
    events: tuple[SimEvent, ...]
    record: PatientRecord
    state: str
    entered_state_on: dt.date
    steps: int
    remitted_step: int | None
    ended: Ending
    # an incomplete first trial or a contributor (bipolar, medical, substance, stressor)
    pseudo_resistance: bool = False


_set = object.__setattr__


def _make(cls: type[M], **values: Any) -> M:
    """A model from trusted, complete values, unvalidated (hot path; validated at the end)."""
    obj = cls.__new__(cls)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", set(values))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj
