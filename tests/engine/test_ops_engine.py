"""Operations: engines for a server database test a pooled connection before handing it out
(a PostgreSQL restart or an idle timeout must not fail the next request), and never show the
URL's password."""

from __future__ import annotations

from engine.store.db import make_engine, redact


def test_postgres_engines_pre_ping_their_pool() -> None:
    engine = make_engine("postgresql+psycopg://app:s3cret@db.example:5432/pathway")
    try:
        assert engine.pool._pre_ping is True  # nothing connects until first use
        assert "s3cret" not in repr(engine) and "s3cret" not in redact(engine.url)
    finally:
        engine.dispose()


def test_pre_ping_can_be_turned_off() -> None:
    engine = make_engine("postgresql+psycopg://app@db.example/pathway", pool_pre_ping=False)
    try:
        assert engine.pool._pre_ping is False
    finally:
        engine.dispose()
