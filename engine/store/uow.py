"""Units of work: one transaction per use (`with uow: …; uow.commit()`), rolled back otherwise."""

from __future__ import annotations

import datetime as dt
from types import TracebackType
from typing import Any, Protocol, Self

import sqlalchemy as sa

from engine.store.db import clearer_error, make_engine, translate_errors
from engine.store.definition_store import SqlDefinitions, StoredDefinition
from engine.store.repository import Repository, SqlRepository
from pathway.definition import Definition


class DefinitionStore(Protocol):
    """Definition versions by content (`engine.store.definition_store`)."""

    def fetch(self, definition_id: str, version: str) -> StoredDefinition | None:
        """A stored version, or None."""
        ...

    def pin(self, definition: Definition, now: dt.datetime) -> str:
        """Store a definition in the open transaction; its hash (DefinitionConflict)."""
        ...

    def listing(self) -> list[tuple[StoredDefinition, int]]:
        """Every stored version with the patients it holds."""
        ...


class UnitOfWork(Protocol):
    """A transaction around the repository; leaving without `commit()` rolls back."""

    @property
    def patients(self) -> Repository:
        """The repository, inside `with`."""
        ...

    @property
    def definitions(self) -> DefinitionStore:
        """The stored definition versions (usable outside `with` too)."""
        ...

    def __enter__(self) -> Self:
        """Open a transaction."""
        ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back anything not committed and release the connection."""
        ...

    def commit(self) -> None:
        """Make the writes durable."""
        ...

    def rollback(self) -> None:
        """Discard the writes."""
        ...


class SqlUnitOfWork:
    """A unit of work on a SQLAlchemy engine.

    It keeps its connection between `with` blocks (a pool checkout and its reset cost more than
    a SQLite read); `close()` gives it back. Not thread-safe: give each thread its own (they may
    share the engine).
    """

    patients: SqlRepository

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._held: sa.Connection | None = None
        self._conn: sa.Connection | None = None
        self.definitions = SqlDefinitions(self)

    @property
    def is_open(self) -> bool:
        """Inside `with`."""
        return self._conn is not None

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> SqlUnitOfWork:
        """A unit of work on a new engine for a URL (nothing connects until first use)."""
        return cls(make_engine(url, **kwargs))

    def __enter__(self) -> Self:
        if self._conn is not None:
            raise RuntimeError("this unit of work is already open")
        held = self._held
        if held is None or held.closed or held.invalidated:
            with translate_errors(self.engine):
                held = self.engine.connect()
                if held.dialect.name != "sqlite":  # reads need no transaction; flush makes its own
                    held = held.execution_options(isolation_level="AUTOCOMMIT")
            self._held = held
            self.patients = SqlRepository(held)
        self._conn = held
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self.patients.discard()
            try:
                if conn.in_transaction():
                    conn.rollback()
            except Exception:
                self.close()
                raise
            if exc is not None and _connection_failed(exc, conn):
                self.close()  # a connection that failed is not reused
        clear = clearer_error(exc, self.engine) if exc is not None else None
        if clear is not None:
            raise clear from None

    def close(self) -> None:
        """Give the connection back to the engine's pool."""
        held, self._held = self._held, None
        if held is not None:
            held.close()

    @property
    def connection(self) -> sa.Connection:
        """The open connection (inside `with`)."""
        if self._conn is None:
            raise RuntimeError("the unit of work is not open")
        return self._conn

    def commit(self) -> None:
        """Apply the staged writes atomically (the repository's flush) and end the transaction."""
        conn = self.connection
        with translate_errors(self.engine):
            self.patients.flush()
            conn.commit()

    def rollback(self) -> None:
        self.patients.discard()
        self.connection.rollback()


def sql_connection(uow: object, reader: str) -> sa.Connection:
    """The open connection of a SQL unit of work, for a query that reads SQL (`reader` names it
    in the TypeError raised for any other unit of work, e.g. the in-memory fake)."""
    if not isinstance(uow, SqlUnitOfWork):
        raise TypeError(f"{reader} reads SQL: it needs a SqlUnitOfWork, not {type(uow).__name__}")
    return uow.connection


def _connection_failed(exc: BaseException, conn: sa.Connection) -> bool:
    """Whether an error may have left the connection unusable: a database error through
    SQLAlchemy, an OS error, or the driver's own operational or interface error (the fast paths
    talk to the driver directly, so a server restart reaches them unwrapped)."""
    if isinstance(exc, sa.exc.DBAPIError | OSError):
        return True
    dbapi = conn.dialect.loaded_dbapi
    return isinstance(exc, dbapi.OperationalError | dbapi.InterfaceError)
