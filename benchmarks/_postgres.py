"""A throwaway PostgreSQL schema for a benchmark run: created, yielded as an engine, dropped."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import sqlalchemy as sa

from engine.store.db import make_engine


@contextmanager
def scratch_schema(url: str) -> Iterator[sa.Engine | None]:
    """An engine whose search_path is a fresh schema (None, with a message, if no server)."""
    schema = "bench_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(url)
    try:
        with admin.begin() as c:
            c.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except sa.exc.OperationalError as exc:
        print(f"PostgreSQL: skipped, no server at {url} ({str(exc.orig).strip()[:80]})")
        admin.dispose()
        yield None
        return
    sep = "&" if "?" in url else "?"
    engine = make_engine(f"{url}{sep}options={quote(f'-csearch_path={schema}')}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as c:
            c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()
