"""Database URLs, engines and schema upgrades.

SQLite is the default: a file (`pathway.db` in the working directory) in WAL mode with
`synchronous=FULL`. Clinical writes must survive a power cut, and in WAL mode `NORMAL` only
guarantees that after an OS crash the last commits may roll back; `FULL` fsyncs the WAL on every
commit (≈0.15–0.2 ms per commit here, see the README), which an interactive command can afford.
The WAL is checkpointed automatically after 4,000 pages instead of SQLite's 1,000. A move writes
~5–8 pages, so with the default one move in ~125–200 paid for a checkpoint (~1.2–2.4 ms measured
here); at 4,000 pages one in ~500–800 does (~2.5 ms), and a page rewritten by many moves is copied
once, so the checkpoints cost less in all. The WAL file normally stays under ~16 MB. PostgreSQL
is used by URL (`postgresql+psycopg://…`) with its durable defaults. Nothing here connects at
import time.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event

from engine.errors import DatabaseNotReady
from pathway.errors import PathwayError, excerpt_text

ENV_URL = "PATHWAY_DATABASE_URL"
DEFAULT_URL = "sqlite:///pathway.db"
SQLITE_SYNCHRONOUS = "FULL"
SQLITE_WAL_AUTOCHECKPOINT = 4000  # pages
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The schema revision this code reads and writes (the newest migration; a test checks it). Every
# command but `init-db` refuses a database at another revision.
SCHEMA_REVISION = "0011"
# init-db's lock on PostgreSQL (pg_advisory_xact_lock key): concurrent runs wait for each other
_INIT_LOCK = 0x70617468


class DatabaseUnavailable(PathwayError):
    """The database cannot be reached or opened."""


class ValueRefused(DatabaseUnavailable):
    """The database refused a value (too long, out of range): the input, not an outage."""


def database_url(value: str | None = None) -> str:
    """`--db` if given, else $PATHWAY_DATABASE_URL, else `pathway.db` here; a path means SQLite."""
    url = value or os.environ.get(ENV_URL) or DEFAULT_URL
    if "://" not in url:
        url = f"sqlite:///{url}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def redact(url: str | sa.URL) -> str:
    """The URL without its password (safe for messages and logs)."""
    return sa.make_url(url).render_as_string(hide_password=True)


def make_engine(
    url: str, *, schema: str | None = None, create: bool = True, **kwargs: Any
) -> sa.Engine:
    """An engine for a URL, its errors and logs without the statements' parameters; SQLite
    connections get WAL (synchronous=FULL, checkpoints every 4,000 pages) and foreign keys.

    `create=False` refuses a SQLite file that does not exist yet (instead of creating an empty
    one); `schema` (PostgreSQL only) puts every table in that schema via the search path.
    """
    u = sa.make_url(url)
    # a database error's message and SQLAlchemy's log lines leave the statement's parameters
    # out (patient ids, facts): they reach logs and error reports
    kwargs.setdefault("hide_parameters", True)
    if u.get_backend_name() == "sqlite":
        memory = u.database in (None, "", ":memory:")
        if not create and not memory and not Path(u.database or "").exists():
            raise DatabaseNotReady(redact(u))
        if not memory:
            _create_private(Path(u.database or ""))
        if memory:
            kwargs.setdefault("poolclass", sa.StaticPool)
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        engine = sa.create_engine(u, **kwargs)
        sa_event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if schema is not None:
        kwargs.setdefault("connect_args", {"options": f"-csearch_path={schema}"})
    # a pooled connection is tested (one empty query) when taken from the pool, so one that a
    # server restart or an idle timeout closed is replaced instead of failing the next request
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(u, **kwargs)


def _create_private(path: Path) -> None:
    """Create a new SQLite file readable by its owner only (0600): it holds patient data.
    SQLite gives its -wal and -shm files the database file's permissions."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    except OSError:
        return  # a folder that does not exist or is read-only: SQLite's own error says so
    os.close(fd)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
        cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT}")
        cur.execute("PRAGMA foreign_keys=ON")
    finally:
        cur.close()


def clearer_error(exc: BaseException, engine: sa.Engine) -> PathwayError | None:
    """A PathwayError for 'no such table' and connection failures (None for anything else)."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    text = str(orig).lower()
    url = redact(engine.url)
    if (isinstance(orig, OSError) and orig.errno == errno.ENOSPC) or any(
        s in text for s in ("database or disk is full", "no space left", "could not extend file")
    ):
        return DatabaseUnavailable(f"the database {url} is out of disk space; nothing was written")
    if "readonly database" in text or "read-only" in text or "permission denied" in text:
        return DatabaseUnavailable(
            f"the database {url} cannot be written here (read-only file, folder or role); "
            "nothing was written"
        )
    if type(orig).__name__ in ("DataError", "StringDataRightTruncation", "NumericValueOutOfRange"):
        detail = excerpt_text(str(orig).strip().splitlines()[0], 120)
        return ValueRefused(f"the database {url} refused a value: {detail}")
    if type(orig).__name__ not in ("OperationalError", "ProgrammingError", "UndefinedTable"):
        return None
    if "no such table" in text or ("relation" in text and "does not exist" in text):
        return DatabaseNotReady(redact(engine.url))
    if "connect" in text or "unable to open" in text:
        detail = str(orig).strip().splitlines()[0]
        return DatabaseUnavailable(f"cannot open the database {redact(engine.url)}: {detail}")
    return None


@contextlib.contextmanager
def translate_errors(engine: sa.Engine) -> Iterator[None]:
    """Raise `clearer_error` instead of raw driver errors where there is one."""
    try:
        yield
    except Exception as exc:
        clear = clearer_error(exc, engine)
        if clear is not None:
            raise clear from None
        raise


def alembic_config(connection: sa.Connection) -> Any:
    """A programmatic alembic configuration (no alembic.ini) bound to an open connection."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def init_db(engine: sa.Engine, *, grant: str | None = None) -> str | None:
    """Create or upgrade the schema to the latest migration; return the revision now current.

    It holds a lock for the whole upgrade (PostgreSQL: an advisory lock; SQLite: BEGIN
    IMMEDIATE), so a concurrent `init-db` waits and then finds the schema done. `grant`
    (PostgreSQL) gives an application role what it needs and no more: INSERT and SELECT on the
    event log (module docstring of migration 0005, README).
    """
    from alembic import command

    with translate_errors(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_INIT_LOCK})")
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        command.upgrade(alembic_config(conn), "head")
        if grant is not None:
            grant_role(conn, grant)
    return current_revision(engine)


def grant_role(conn: sa.Connection, role: str) -> None:
    """PostgreSQL: let `role` use the schema as the application does: read everything, insert
    events and enrollments, update enrollments (and the board counts their triggers keep, which
    they delete at zero, and the cohort rollup's counts when it is installed); never update,
    delete or truncate events."""
    if conn.dialect.name != "postgresql":
        raise PathwayError("--grant needs PostgreSQL (SQLite has no roles)")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", role):
        raise PathwayError("--grant takes a role name of letters, digits and _ (at most 63)")
    exists = conn.exec_driver_sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).first()
    if exists is None:
        raise PathwayError(f"no PostgreSQL role '{role}': create it first (CREATE ROLE …)")
    who = f'"{role}"'
    for sql in (
        f"GRANT USAGE ON SCHEMA {_schema(conn)} TO {who}",
        f"REVOKE ALL ON event, enrollment, board_count, definition_version, due_item, "
        f"alembic_version FROM {who}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON due_item TO {who}",
        f"GRANT SELECT, INSERT ON event TO {who}",
        f"GRANT SELECT, INSERT ON definition_version TO {who}",
        f"GRANT SELECT, INSERT, UPDATE ON enrollment TO {who}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON board_count TO {who}",
        f"GRANT SELECT ON alembic_version TO {who}",
        # the web app (migration 0008): accounts and sessions change, the access audit only grows
        f"REVOKE ALL ON web_user, api_token, web_session, access_audit FROM {who}",
        f"GRANT SELECT, INSERT, UPDATE ON web_user, api_token TO {who}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON web_session TO {who}",  # last_seen_at
        f"GRANT SELECT, INSERT ON access_audit TO {who}",
        f"GRANT USAGE ON SEQUENCE access_audit_id_seq TO {who}",
    ):
        conn.exec_driver_sql(sql)
    # the opt-in cohort rollup, if installed: its triggers add, change and delete counts
    from engine.store.overlay_rollup_sql import TABLES

    found = "SELECT to_regclass(%s)"
    rollup = [t for t in TABLES if conn.exec_driver_sql(found, (t,)).scalar() is not None]
    if rollup:
        conn.exec_driver_sql(f"REVOKE ALL ON {', '.join(rollup)} FROM {who}")
        conn.exec_driver_sql(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(rollup)} TO {who}"
        )


def _schema(conn: sa.Connection) -> str:
    name = conn.exec_driver_sql("SELECT current_schema()").scalar()
    return '"' + str(name).replace('"', '""') + '"'


def check_revision(engine: sa.Engine) -> None:
    """Refuse a database whose schema is not the one this code knows (one small query)."""
    with translate_errors(engine), engine.connect() as conn:
        try:
            rev = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        except sa.exc.DBAPIError as exc:
            if clearer_error(exc, engine) is not None:
                raise DatabaseNotReady(redact(engine.url)) from None
            raise
    if rev != SCHEMA_REVISION:
        raise SchemaMismatch(redact(engine.url), rev, SCHEMA_REVISION)


class SchemaMismatch(PathwayError):
    """The database's schema revision is not the one this code reads and writes."""

    def __init__(self, url: str, found: str | None, known: str) -> None:
        self.found, self.known = found, known
        newer = found is not None and found > known
        todo = (
            "upgrade pathway to read it"
            if newer
            else f"run `pathway init-db --db {url}` to upgrade it"
        )
        super().__init__(
            f"the database {url} is at schema revision {found or 'none'}, this pathway knows "
            f"{known}: {todo}"
        )


def current_revision(engine: sa.Engine) -> str | None:
    """The alembic revision the database is at (None before `init_db`)."""
    from alembic.runtime.migration import MigrationContext

    with translate_errors(engine), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """The newest migration shipped with this package."""
    from alembic.script import ScriptDirectory

    with engine_free_config() as cfg:
        return ScriptDirectory.from_config(cfg).get_current_head()


@contextlib.contextmanager
def engine_free_config() -> Iterator[Any]:
    """An alembic configuration without a connection (for reading the migration scripts)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    yield cfg
