"""What the engine's services return: frozen pydantic models (no SQL rows, no machine objects).

`model_dump(mode="json")` of each is what the CLI prints with `--json`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from pathway.assess import DefinitionRef
from pathway.evaluation import GuardResult

EventKind = Literal["enrolled", "fact", "transition", "override", "migrated"]


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class HistoryEntry(_View):
    """One event of a patient's log, readable: what happened, when, who recorded it, why."""

    version: int
    kind: EventKind
    effective_on: dt.date
    recorded_at: dt.datetime
    actor: str
    summary: str
    fact: str | None = None
    trigger: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    reason_code: str | None = None
    note: str | None = None
    guard: GuardResult | None = None
    data: dict[str, Any] | None = None


class Enrolled(_View):
    """A new enrollment."""

    patient_id: str
    definition: DefinitionRef
    state: str
    version: int
    effective_on: dt.date
    facts: int


class Recorded(_View):
    """Facts appended to a patient's log."""

    patient_id: str
    version: int
    entries: list[HistoryEntry]


class Moved(_View):
    """A transition (guarded) or an override (reasoned) that changed the patient's state."""

    patient_id: str
    kind: Literal["transition", "override"]
    trigger: str | None
    from_state: str
    to_state: str
    version: int
    effective_on: dt.date
    reason_code: str | None = None
    guard: GuardResult | None = None


class PatientStatus(_View):
    """Where a patient is, for how long, what the guards say from here, and what is due."""

    patient_id: str
    definition: DefinitionRef
    state: str
    state_label: str
    state_kind: str
    version: int
    entered_state_on: dt.date
    days_in_state: int
    as_of: dt.date
    guards: list[GuardResult]
    enabled: list[str]
    recommended: str | None
    due: list[dict[str, Any]]


class PatientHistory(_View):
    """A patient's timeline of facts and moves, by effective date then log order."""

    patient_id: str
    definition: DefinitionRef
    state: str
    version: int
    entries: list[HistoryEntry]


class ImportProblem(_View):
    """A record the import refused, and why."""

    source: str
    patient_id: str | None
    message: str


class ImportReport(_View):
    """The outcome of a bulk import: one transaction per patient (or per batch of patients)."""

    read: int
    enrolled: int
    skipped_existing: int
    events: int
    problems: list[ImportProblem]
    seconds: float


class Mismatch(_View):
    """A patient whose stored state disagrees with a replay of its log."""

    patient_id: str
    problem: str


class VerifyReport(_View):
    """Every patient replayed: state, version and record rebuilt from the log; and the board's
    counts recounted from the enrollments."""

    patients: int
    events: int
    mismatches: list[Mismatch]
    # where the board's counts (`board_count`) disagree with the enrollments
    board_counts: list[str] = []
    # stored definition versions whose content no longer matches its hash
    definitions: list[str] = []
    # where the opt-in cohort rollup's counters disagree with the log
    cohort_rollup: list[str] = []

    @property
    def ok(self) -> bool:
        return not (self.mismatches or self.board_counts or self.definitions or self.cohort_rollup)


MigrationProblem = Literal["removed_state", "enabled_changed", "record_invalid"]


class MigrationFinding(_View):
    """A patient the new definition would affect."""

    patient_id: str
    state: str
    problem: MigrationProblem
    old_enabled: list[str]
    new_enabled: list[str]


class MigrationReport(_View):
    """Which enrolled patients a new definition version would strand or treat differently."""

    definition: DefinitionRef
    as_of: dt.date
    patients: int
    removed_states: list[str]
    findings: list[MigrationFinding]


class MigratedPatient(_View):
    """A patient `pathway migrate` moved (or, in a dry run, would move) to another version."""

    patient_id: str
    state: str
    from_version: str
    version: int  # the patient's log version after the move (unchanged in a dry run)
    old_enabled: list[str]
    new_enabled: list[str]


class MigrationResult(_View):
    """What `pathway migrate` did: who moved, who was refused (removed state, invalid record,
    or changed by someone else meanwhile), and whether it was a dry run."""

    definition: DefinitionRef
    as_of: dt.date
    dry_run: bool
    moved: list[MigratedPatient]
    refused: list[MigrationFinding]
    changed_meanwhile: list[str]


class StoredVersion(_View):
    """A definition version stored in the database: content hash, first use, patients on it."""

    id: str
    version: str
    sha256: str
    first_seen: dt.datetime
    patients: int
