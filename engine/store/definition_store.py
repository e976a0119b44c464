"""Definition versions kept in the database by content: canonical JSON, its SHA-256, first seen.

A definition is stored the first time the engine uses it (enrollment, import, simulation,
migration). Its content is the definition and its catalogs as canonical JSON (sorted keys, no
whitespace), so the hash names the rules, not a file's comments or layout; a patient pinned to
a version is evaluated with that content from any machine, and a different definition claiming
a stored id and version is refused with both hashes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from engine.errors import DefinitionConflict
from engine.store.tables import definition_version_table
from pathway.catalog import Catalog
from pathway.definition import Definition
from pathway.implied import with_implied, without_implied

if TYPE_CHECKING:
    from engine.store.fake import FakeStore
    from engine.store.uow import SqlUnitOfWork


@dataclass(frozen=True, slots=True)
class StoredDefinition:
    """One stored version: its key, content hash, canonical JSON and when it was first used."""

    definition_id: str
    version: str
    sha256: str
    content: str
    first_seen: dt.datetime


def fingerprint(definition: Definition) -> tuple[str, str]:
    """(SHA-256, canonical JSON) of a definition with its catalogs: what the files set, so a
    field the code adds later (with a default) does not change the hash of old content. Worked
    out once per loaded definition (it never changes once loaded)."""
    return definition.compiled.derived("fingerprint", lambda: _fingerprint(definition))


def pinned(definition: Definition) -> dict[str, str]:
    """A patient's pin, as the log records it: the definition's id, version and content hash."""
    return {
        "id": definition.metadata.id,
        "version": definition.metadata.version,
        "sha256": fingerprint(definition)[0],
    }


def _fingerprint(definition: Definition) -> tuple[str, str]:
    content = json.dumps(
        {
            "definition": without_implied(
                definition.model_dump(mode="json", by_alias=True, exclude_unset=True)
            ),
            "catalog": definition.catalog.model_dump(
                mode="json", by_alias=True, exclude_unset=True
            ),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(content.encode("utf-8")).hexdigest(), content


def restore(content: str) -> Definition:
    """The definition a stored content describes (validated again, catalogs included), with the
    parameters earlier releases implied filled in (`pathway.implied`)."""
    data = json.loads(content)
    definition = Definition.model_validate(with_implied(data["definition"]))
    definition._catalog = Catalog.model_validate(data["catalog"])
    return definition


def fetch(conn: sa.Connection, definition_id: str, version: str) -> StoredDefinition | None:
    """A stored version, or None."""
    t = definition_version_table()
    row = conn.execute(
        sa.select(t.c.sha256, t.c.content, t.c.first_seen).where(
            t.c.definition_id == definition_id, t.c.version == version
        )
    ).first()
    if row is None:
        return None
    return StoredDefinition(definition_id, version, row.sha256, row.content, row.first_seen)


def listing(conn: sa.Connection) -> list[tuple[StoredDefinition, int]]:
    """Every stored version with how many patients it holds, by id then first use."""
    t = definition_version_table()
    enr = sa.table("enrollment", sa.column("definition_id"), sa.column("definition_version"))
    held = (
        sa.select(enr.c.definition_id, enr.c.definition_version, sa.func.count().label("n"))
        .group_by(enr.c.definition_id, enr.c.definition_version)
        .subquery()
    )
    rows = conn.execute(
        sa.select(t, sa.func.coalesce(held.c.n, 0))
        .outerjoin(
            held,
            sa.and_(
                held.c.definition_id == t.c.definition_id,
                held.c.definition_version == t.c.version,
            ),
        )
        .order_by(t.c.definition_id, t.c.first_seen, t.c.version)
    )
    return [
        (StoredDefinition(r.definition_id, r.version, r.sha256, r.content, r.first_seen), r[-1])
        for r in rows
    ]


def pin(conn: sa.Connection, definition: Definition, now: dt.datetime) -> str:
    """Store a definition the engine is about to use (once); return its hash.

    DefinitionConflict if another content is stored under the same id and version.
    """
    sha, content = fingerprint(definition)
    key = definition.key
    stored = fetch(conn, *key)
    if stored is None:
        t = definition_version_table()
        row = {"definition_id": key[0], "version": key[1], "sha256": sha, "content": content}
        from sqlalchemy.dialects import postgresql, sqlite

        dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
        statement = dialect.insert(t).values(**row, first_seen=now).on_conflict_do_nothing()
        # a concurrent first use may insert it first: then compare with what it stored
        done = conn.execute(statement)
        if done.rowcount == 1:
            return sha
        stored = fetch(conn, *key)
        if stored is None:  # pragma: no cover - neither inserted nor there
            raise RuntimeError(f"could not store definition {key[0]} {key[1]}")
    if stored.sha256 != sha:
        raise DefinitionConflict(key[0], key[1], stored.sha256, sha)
    return sha


class SqlDefinitions:
    """The stored definitions of a SQL unit of work: inside its transaction when it is open,
    else in a short one of their own."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self.uow = uow

    def fetch(self, definition_id: str, version: str) -> StoredDefinition | None:
        if self.uow.is_open:
            return fetch(self.uow.connection, definition_id, version)
        with self.uow as uow:
            return fetch(uow.connection, definition_id, version)

    def pin(self, definition: Definition, now: dt.datetime) -> str:
        """Store a definition in the open transaction (it commits with the write using it)."""
        return pin(self.uow.connection, definition, now)

    def listing(self) -> list[tuple[StoredDefinition, int]]:
        with self.uow as uow:
            return listing(uow.connection)


class FakeDefinitions:
    """The same over the in-memory store of the fake unit of work (no patient counts from SQL:
    they are counted from its enrollments)."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store

    def fetch(self, definition_id: str, version: str) -> StoredDefinition | None:
        return self.store.definitions.get((definition_id, version))

    def pin(self, definition: Definition, now: dt.datetime) -> str:
        sha, content = fingerprint(definition)
        stored = self.store.definitions.setdefault(
            definition.key, StoredDefinition(*definition.key, sha, content, now)
        )
        if stored.sha256 != sha:
            raise DefinitionConflict(*definition.key, stored.sha256, sha)
        return sha

    def listing(self) -> list[tuple[StoredDefinition, int]]:
        held: dict[tuple[str, str], int] = {}
        for e in self.store.enrollments.values():
            key = (e.definition_id, e.definition_version)
            held[key] = held.get(key, 0) + 1
        rows = sorted(
            self.store.definitions.values(), key=lambda s: (s.definition_id, s.first_seen)
        )
        return [(s, held.get((s.definition_id, s.version), 0)) for s in rows]
