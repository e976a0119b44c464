"""What a query reads through: a unit of work, a clock and the known definitions (`Services`
provides all three; so can a web request or a test)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from engine.clock import Clock
    from engine.definitions import DefinitionRegistry
    from engine.store.uow import UnitOfWork


class ReadSource(Protocol):
    """The read interface of the queries: they open `uow`, take 'today' from `clock` and lay
    results out by `definitions`; they never write."""

    @property
    def uow(self) -> UnitOfWork:
        """The unit of work the query opens (read-only use)."""
        ...

    @property
    def clock(self) -> Clock:
        """Where 'today' comes from when the caller gives no date."""
        ...

    @property
    def definitions(self) -> DefinitionRegistry:
        """The known definitions by (id, version)."""
        ...
