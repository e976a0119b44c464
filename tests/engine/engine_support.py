"""Helpers shared by the engine tests (imported as `engine_support`)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from engine.definitions import DefinitionRegistry
from engine.services import Services

TODAY = dt.date(2026, 6, 1)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def registry() -> DefinitionRegistry:
    """The shipped definitions only (ignores $PATHWAY_DEFINITIONS)."""
    return DefinitionRegistry(["trd"], use_env=False)


def example_records() -> list[dict[str, Any]]:
    """The example patient records (JSON and YAML), as plain data."""
    from pathway.yamlio import read_data

    out = []
    for f in sorted(EXAMPLES.iterdir()):
        if f.suffix in (".json", ".yaml"):
            data, _ = read_data(f)
            out.append(data)
    return out


def snapshot(svc: Services) -> list[Any]:
    """Everything stored, comparable: enrollments and logs (to prove nothing was written)."""
    with svc.uow as uow:
        return [
            (head, [(e.version, e.kind, e.payload) for e in log])
            for head, log in uow.patients.iter_patients()
        ]


def dump(data: Any, path: Path) -> Path:
    """Write JSON to a file and return its path."""
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def tamper(engine: Any, *statements: str, params: dict[str, Any] | None = None) -> None:
    """Run SQL behind the engine's back, as a database owner would: the append-only triggers and
    the foreign keys are off for it (the hash chain is what must still notice)."""
    import sqlalchemy as sa

    from engine.store.migrations.versions.v0005_event_chain import SQLITE_TRIGGERS

    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as c:
        if sqlite:
            c.exec_driver_sql("PRAGMA foreign_keys=OFF")
            c.exec_driver_sql("DROP TRIGGER IF EXISTS event_no_update")
            c.exec_driver_sql("DROP TRIGGER IF EXISTS event_no_delete")
        else:
            c.exec_driver_sql("SET session_replication_role = replica")
        for sql in statements:
            if params is None:
                c.exec_driver_sql(sql)
            else:
                c.execute(sa.text(sql), params)
        if sqlite:
            for t in SQLITE_TRIGGERS:
                c.exec_driver_sql(t)
        c.commit()
        if sqlite:
            c.exec_driver_sql("PRAGMA foreign_keys=ON")
        else:
            c.exec_driver_sql("SET session_replication_role = DEFAULT")
            c.commit()
