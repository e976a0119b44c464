"""One patient's path for `viz`: the moves of the event log, and the days spent in each state.

The log is read in version order; a visit to a state runs from the effective date of the move
(or enrollment) that entered it to the effective date of the move that left it, or to the end
date for the state the patient is in. `window_path` also clips a path to a date window, which is
what the cohort overlay counts (`engine.queries.overlay_cohort`); `patient_path` is the whole path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.store.repository import EventRow
from pathway.errors import PathwayError, UnknownPatient
from viz.overlays import PathStep, PatientPath

if TYPE_CHECKING:
    from engine.queries.source import ReadSource

MOVE_KINDS = ("enrolled", "transition", "override")
"""The events that put a patient in a state (enrollment) or move them (the others)."""


class NotEnrolledYet(PathwayError):
    """The path was asked for as of a date before the patient's enrollment."""

    def __init__(self, patient_id: str, enrolled_on: dt.date, as_of: dt.date) -> None:
        self.patient_id, self.enrolled_on, self.as_of = patient_id, enrolled_on, as_of
        super().__init__(
            f"patient {patient_id} was enrolled on {enrolled_on.isoformat()}, after the as-of "
            f"date {as_of.isoformat()}: there is no path yet"
        )


@dataclass(frozen=True, slots=True)
class WindowPath:
    """A path clipped to a window: where it starts, the moves in it, where it ends, the days."""

    start: str
    current: str
    steps: tuple[PathStep, ...]
    days: dict[str, int]


def window_path(
    events: Sequence[EventRow], *, end: dt.date, since: dt.date | None = None
) -> WindowPath | None:
    """The path in the log between `since` and `end` (both included), or None before enrollment.

    Moves effective after `end` are ignored. With `since`, the path starts in the state the
    patient was in at the start of that day (moves on `since` are in the window) and days are
    counted from `since`. A visit that a move dated before its entry would give negative days
    (the services refuse such moves) counts as 0 days.
    """
    moves = [e for e in events if e.kind in MOVE_KINDS and e.effective_on <= end]
    if not moves or moves[0].kind != "enrolled" or moves[0].to_state is None:
        return None
    left = [m.effective_on for m in moves[1:]] + [end]
    first = 0
    if since is not None:
        first = next((i for i, day in enumerate(left) if day >= since), len(moves) - 1)
    days: dict[str, int] = {}
    for i in range(first, len(moves)):
        state = str(moves[i].to_state)
        entered = moves[i].effective_on
        if since is not None and entered < since:
            entered = since
        days[state] = days.get(state, 0) + max(0, (left[i] - entered).days)
    steps = tuple(
        PathStep(
            source=str(m.from_state),
            dest=str(m.to_state),
            trigger=m.trigger,
            effective=m.effective_on,
            override=m.kind == "override",
            reason=m.reason_code,
        )
        for m in moves[first + 1 :]
    )
    return WindowPath(
        start=str(moves[first].to_state),
        current=str(moves[-1].to_state),
        steps=steps,
        days=days,
    )


def ended_stays(
    events: Sequence[EventRow], *, since: dt.date, end: dt.date
) -> list[tuple[str, int]]:
    """(state, days) of each stay left from `since` to `end` (both included), in log order.

    A stay starts at enrollment or at a move from another state and ends at the next move to
    another state (a move from a state to itself does not end it); it is counted whole, from the
    day it started.
    """
    out: list[tuple[str, int]] = []
    state: str | None = None
    entered = end
    for e in events:
        if e.kind not in MOVE_KINDS or e.effective_on > end:
            continue
        if e.kind != "enrolled" and e.from_state == e.to_state:
            continue
        if state is not None and e.effective_on >= since:
            out.append((state, max(0, (e.effective_on - entered).days)))
        state, entered = str(e.to_state), e.effective_on
    return out


def patient_path(svc: ReadSource, patient_id: str, *, as_of: dt.date | None = None) -> PatientPath:
    """The patient's path from enrollment to `as_of` (default today), for `viz.render(patient=…)`.

    Steps are the transitions and overrides effective on or before `as_of`, in log order, each
    with its effective date; an override is marked with its reason code (and no trigger). `days`
    adds up every visit to each state, the current one counted to `as_of`.
    """
    day = as_of or svc.clock.today()
    with svc.uow as uow:
        loaded = uow.patients.load(patient_id)
    if loaded is None:
        raise UnknownPatient(patient_id)
    _, events = loaded
    path = window_path(events, end=day)
    if path is None:
        enrolled = next((e.effective_on for e in events if e.kind == "enrolled"), day)
        raise NotEnrolledYet(patient_id, enrolled, day)
    return PatientPath(
        patient_id=patient_id,
        as_of=day,
        current=path.current,
        steps=list(path.steps),
        days=path.days,
    )
