"""Injected clocks: the system clock for the CLI, a settable one for tests and simulations."""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    """Where services get 'now' from; rules never call datetime.now() themselves."""

    def now(self) -> dt.datetime:
        """The current instant, timezone-aware (UTC)."""
        ...

    def today(self) -> dt.date:
        """The current clinical date (local calendar)."""
        ...


class SystemClock:
    """The real clock: UTC instants, local calendar dates."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def today(self) -> dt.date:
        return dt.datetime.now().astimezone().date()


class FixedClock:
    """A clock that stands still until moved (tests, simulations, back-filling)."""

    def __init__(self, at: dt.datetime | dt.date) -> None:
        if not isinstance(at, dt.datetime):
            at = dt.datetime.combine(at, dt.time(12, 0), tzinfo=dt.UTC)
        elif at.tzinfo is None:
            at = at.replace(tzinfo=dt.UTC)
        self._now = at

    def now(self) -> dt.datetime:
        return self._now

    def today(self) -> dt.date:
        return self._now.date()

    def advance(self, *, days: int = 0, seconds: float = 0) -> None:
        """Move the clock forward."""
        self._now += dt.timedelta(days=days, seconds=seconds)

    def set(self, at: dt.datetime | dt.date) -> None:
        """Jump to an instant or to noon UTC of a date."""
        self._now = FixedClock(at)._now
