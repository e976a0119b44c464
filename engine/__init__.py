"""Runtime: the pathway's state machine, persistence (sqlmodel), services and the `pathway` command.

Subpackages: `store/` (persistence), `queries/` (read-only answers), `cli/` (the command),
`simulator/`, `fhir/`, `measures/`; the services are at the top (docs/architecture.md). The public
API is re-exported here lazily (importing `engine` loads neither SQLAlchemy nor transitions until
a name is used), so `pathway --help` starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.clock import Clock, FixedClock, SystemClock
    from engine.definitions import DefinitionRegistry
    from engine.errors import (
        AlreadyEnrolled,
        BeforeEntry,
        DatabaseNotReady,
        DefinitionUnavailable,
        FutureDate,
        InvalidOverride,
        UnknownReasonCode,
    )
    from engine.factlog import Fact, parse_facts
    from engine.machine import Step, enabled_triggers, evaluate_state, step
    from engine.reasons import REASON_CODES
    from engine.services import Services
    from engine.store.db import database_url, init_db, make_engine
    from engine.store.fake import FakeUnitOfWork
    from engine.store.uow import SqlUnitOfWork, UnitOfWork
    from engine.views import (
        Enrolled,
        HistoryEntry,
        ImportReport,
        MigrationReport,
        Moved,
        PatientHistory,
        PatientStatus,
        Recorded,
        VerifyReport,
    )

_EXPORTS = {
    "AlreadyEnrolled": "engine.errors",
    "BeforeEntry": "engine.errors",
    "Clock": "engine.clock",
    "DatabaseNotReady": "engine.errors",
    "DefinitionRegistry": "engine.definitions",
    "DefinitionUnavailable": "engine.errors",
    "Enrolled": "engine.views",
    "Fact": "engine.factlog",
    "FakeUnitOfWork": "engine.store.fake",
    "FixedClock": "engine.clock",
    "FutureDate": "engine.errors",
    "HistoryEntry": "engine.views",
    "ImportReport": "engine.views",
    "InvalidOverride": "engine.errors",
    "MigrationReport": "engine.views",
    "Moved": "engine.views",
    "PatientHistory": "engine.views",
    "PatientStatus": "engine.views",
    "REASON_CODES": "engine.reasons",
    "Recorded": "engine.views",
    "Services": "engine.services",
    "SqlUnitOfWork": "engine.store.uow",
    "Step": "engine.machine",
    "SystemClock": "engine.clock",
    "UnitOfWork": "engine.store.uow",
    "UnknownReasonCode": "engine.errors",
    "VerifyReport": "engine.views",
    "database_url": "engine.store.db",
    "enabled_triggers": "engine.machine",
    "evaluate_state": "engine.machine",
    "init_db": "engine.store.db",
    "make_engine": "engine.store.db",
    "parse_facts": "engine.factlog",
    "step": "engine.machine",
}

__all__ = [
    "REASON_CODES",
    "AlreadyEnrolled",
    "BeforeEntry",
    "Clock",
    "DatabaseNotReady",
    "DefinitionRegistry",
    "DefinitionUnavailable",
    "Enrolled",
    "Fact",
    "FakeUnitOfWork",
    "FixedClock",
    "FutureDate",
    "HistoryEntry",
    "ImportReport",
    "InvalidOverride",
    "MigrationReport",
    "Moved",
    "PatientHistory",
    "PatientStatus",
    "Recorded",
    "Services",
    "SqlUnitOfWork",
    "Step",
    "SystemClock",
    "UnitOfWork",
    "UnknownReasonCode",
    "VerifyReport",
    "database_url",
    "enabled_triggers",
    "evaluate_state",
    "init_db",
    "make_engine",
    "parse_facts",
    "step",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
