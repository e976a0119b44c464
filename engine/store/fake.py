"""An in-memory repository and unit of work with the same semantics as the SQL ones (fast tests).

Writes are staged and applied at `commit()`; the compare-and-swap on the version is checked at
both `append` and `commit`, so a lost race raises `StaleVersion` just as on a database.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Self

from engine.errors import AlreadyEnrolled
from engine.store.definition_store import FakeDefinitions, StoredDefinition
from engine.store.repository import DueRow, EnrollmentRow, EventRow
from pathway.errors import StaleVersion, UnknownPatient


@dataclass
class FakeStore:
    """The 'database': committed enrollments and logs, shared by fake units of work."""

    enrollments: dict[str, EnrollmentRow] = field(default_factory=dict)
    events: dict[str, list[EventRow]] = field(default_factory=dict)
    definitions: dict[tuple[str, str], StoredDefinition] = field(default_factory=dict)
    due: dict[str, tuple[DueRow, ...]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    commits: int = 0


_Op = tuple[str, EnrollmentRow, Sequence[EventRow], int]


class FakeRepository:
    """Reads committed data plus this unit of work's own staged writes."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.staged: list[_Op] = []

    def _view(self, patient_id: str) -> tuple[EnrollmentRow | None, list[EventRow]]:
        head = self.store.enrollments.get(patient_id)
        events = list(self.store.events.get(patient_id, []))
        for op, row, evs, _ in self.staged:
            if row.patient_id == patient_id:
                head = row
                events += list(evs) if op != "noop" else []
        return head, events

    def get(self, patient_id: str) -> EnrollmentRow | None:
        return self._view(patient_id)[0]

    def load(self, patient_id: str) -> tuple[EnrollmentRow, list[EventRow]] | None:
        head, events = self._view(patient_id)
        return (head, events) if head is not None else None

    def load_facts(
        self, patient_id: str, known: int | None = None
    ) -> tuple[EnrollmentRow, list[str]] | None:
        head, events = self._view(patient_id)
        if head is None:
            return None
        if known == head.version:
            return head, []
        return head, [e.payload for e in events if e.kind in ("enrolled", "fact")]

    def add(self, enrollment: EnrollmentRow, events: Sequence[EventRow]) -> None:
        if self.get(enrollment.patient_id) is not None:
            raise AlreadyEnrolled(enrollment.patient_id)
        self.staged.append(("add", enrollment, list(events), 0))

    def append(
        self,
        enrollment: EnrollmentRow,
        events: Sequence[EventRow],
        *,
        expected_version: int,
    ) -> None:
        current = self.get(enrollment.patient_id)
        if current is None:
            raise UnknownPatient(enrollment.patient_id)
        if current.version != expected_version:
            raise StaleVersion(enrollment.patient_id, expected_version, current.version)
        self.staged.append(("append", enrollment, list(events), expected_version))

    def add_many(self, batch: Sequence[tuple[EnrollmentRow, Sequence[EventRow]]]) -> None:
        for enrollment, events in batch:
            self.add(enrollment, events)

    def existing(self, patient_ids: Sequence[str]) -> set[str]:
        return {i for i in patient_ids if self.get(i) is not None}

    def iter_patients(self, *, chunk: int = 500) -> Iterator[tuple[EnrollmentRow, list[EventRow]]]:
        ids = sorted(set(self.store.enrollments) | {op[1].patient_id for op in self.staged})
        for pid in ids:
            loaded = self.load(pid)
            if loaded is not None:
                yield loaded


class FakeUnitOfWork:
    """A unit of work over a FakeStore (create one per thread; they may share the store)."""

    patients: FakeRepository

    def __init__(self, store: FakeStore | None = None) -> None:
        self.store = store if store is not None else FakeStore()
        self.patients = FakeRepository(self.store)
        self.definitions = FakeDefinitions(self.store)

    def __enter__(self) -> Self:
        self.patients = FakeRepository(self.store)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    def commit(self) -> None:
        staged, self.patients.staged = self.patients.staged, []
        with self.store.lock:
            versions: dict[str, int] = {}
            for op, row, _, expected in staged:  # check every swap before applying any
                pid = row.patient_id
                current = self.store.enrollments.get(pid)
                seen = versions.get(pid, current.version if current else None)
                if op == "add" and seen is not None:
                    raise AlreadyEnrolled(pid)
                if op == "append" and seen != expected:
                    raise StaleVersion(pid, expected, seen or 0)
                versions[pid] = row.version
            for _, row, events, _ in staged:
                if row.due is not None:  # stored apart, as `due_item` is: reads never carry it
                    self.store.due[row.patient_id] = row.due
                    row = replace(row, due=None)
                self.store.enrollments[row.patient_id] = row
                self.store.events.setdefault(row.patient_id, []).extend(events)
            self.store.commits += 1

    def rollback(self) -> None:
        self.patients.staged = []
