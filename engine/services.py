"""The engine's services: enroll, record facts, status, advance, override, history.

Other apps import these (the CLI is a thin layer over them). Every write reads the patient's log,
decides, and appends events with a compare-and-swap on the version; a refused command writes
nothing. The clock is injected; effective (clinical) dates may be back-dated, never future-dated.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from engine.clock import Clock, SystemClock
from engine.definitions import DefinitionRegistry
from engine.due import due_list, next_due
from engine.enrolling import (
    build_enrollment,
    check_actor,
    check_effective,
    check_effective_agrees,
    check_note,
    check_patient_id,
    event_row,
    refuse_future,
)
from engine.errors import BeforeEntry, FutureDate, InvalidOverride, UnknownReasonCode
from engine.factlog import (
    Fact,
    TrialStarted,
    apply,
    check_new,
    fact_date,
    parse_facts,
    payload_of,
    rebuild,
)
from engine.machine import step
from engine.queries.timeline import history_entry
from engine.reasons import REASON_CODES
from engine.store.repository import EnrollmentRow
from engine.store.uow import UnitOfWork
from engine.views import (
    Enrolled,
    ImportReport,
    MigrationReport,
    MigrationResult,
    Moved,
    PatientHistory,
    PatientStatus,
    Recorded,
    StoredVersion,
    VerifyReport,
)
from pathway.assess import DefinitionRef
from pathway.definition import Definition
from pathway.errors import (
    InvalidTrigger,
    Issue,
    RecordError,
    StaleVersion,
    TransitionBlocked,
    UnknownPatient,
    excerpt,
)
from pathway.evaluation import decide, guard_results
from pathway.facts import Facts, derive
from pathway.record import PatientRecord, parse_record
from pathway.results import builder
from pathway.yamlio import did_you_mean

# Log lines carry pseudonymous ids, kinds, states and versions only: never notes, actors or
# record content.
log = logging.getLogger("engine")
_new_moved = builder(Moved)
_T = TypeVar("_T")
# What a write decided on a cached record may refuse because the cache is out of date
_CACHE_REFUSALS = (
    StaleVersion,
    UnknownPatient,
    TransitionBlocked,
    InvalidTrigger,
    BeforeEntry,
    InvalidOverride,
    RecordError,
)


@dataclass
class LoadedPatient:
    """One patient as read for a command: enrollment, definition, facts and rebuilt record."""

    head: EnrollmentRow
    definition: Definition
    header: dict[str, Any]
    fact_payloads: list[dict[str, Any]]
    record: PatientRecord
    derived: dict[tuple[dt.date, dt.date | None], Facts] = field(default_factory=dict)

    def facts(
        self, as_of: dt.date, state: str | None = None, entered: dt.date | None = None
    ) -> Facts:
        """The patient's derived facts as of a date, judged in their current state (or in
        `state`, entered on `entered`). Kept: a record version never changes, and facts judged
        since another day share everything but the predicates' results."""
        d, head = self.definition, self.head
        since = d.judged_since(state or head.state, entered or head.entered_state_on)
        found = self.derived.get((as_of, since))
        if found is None:
            other = next((f for (day, _), f in self.derived.items() if day == as_of), None)
            if other is not None:
                found = replace(other, entered_state_on=since, memo={})
            else:
                found = derive(
                    self.record,
                    as_of=as_of,
                    params=d.parameters,
                    catalog=d.catalog,
                    entered_state_on=since,
                )
            if len(self.derived) >= 4:
                self.derived.clear()
            self.derived[as_of, since] = found
        return found

    def at(self, head: EnrollmentRow) -> LoadedPatient:
        """The same record under a newer enrollment row (a move changes no fact)."""
        return LoadedPatient(
            head, self.definition, self.header, self.fact_payloads, self.record, self.derived
        )

    def document(self) -> dict[str, Any]:
        """A fresh record document (plain data) to apply new facts to."""
        return rebuild(self.head.patient_id, self.header, self.fact_payloads)

    @property
    def ref(self) -> DefinitionRef:
        return DefinitionRef(id=self.head.definition_id, version=self.head.definition_version)


class RecordCache:
    """The rebuilt record of recently seen patients, one version each, least recently used
    dropped.

    The log up to a version never changes (append-only, compare-and-swap), so (patient, version)
    names a record exactly: a hit skips rebuilding, validating and deriving it again (status then
    advance, or two moves in a row, on the same patient). A newer version replaces the older one:
    nothing reads a version that is no longer current, and keeping it would only feed the
    garbage collector.
    """

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._data: OrderedDict[str, LoadedPatient] = OrderedDict()

    def version_of(self, patient_id: str) -> int | None:
        """The version of a patient's cached record (None: not cached)."""
        found = self._data.get(patient_id)
        return None if found is None else found.head.version

    def peek(self, patient_id: str) -> LoadedPatient | None:
        """A patient's cached record, whatever its version."""
        found = self._data.get(patient_id)
        if found is not None:
            self._data.move_to_end(patient_id)
        return found

    def drop(self, patient_id: str) -> None:
        """Forget a patient (their cached version is no longer theirs)."""
        self._data.pop(patient_id, None)

    def get(self, patient_id: str, version: int) -> LoadedPatient | None:
        found = self._data.get(patient_id)
        if found is None or found.head.version != version:
            return None
        self._data.move_to_end(patient_id)
        return found

    def put(self, p: LoadedPatient) -> None:
        key = p.head.patient_id
        self._data[key] = p
        self._data.move_to_end(key)
        while len(self._data) > self.size:
            self._data.popitem(last=False)


class Services:
    """The engine's use cases over a unit of work (one Services per thread)."""

    def __init__(
        self,
        uow: UnitOfWork,
        *,
        clock: Clock | None = None,
        definitions: DefinitionRegistry | None = None,
    ) -> None:
        self.uow = uow
        self.clock: Clock = clock or SystemClock()
        self.definitions = definitions or DefinitionRegistry()
        if self.definitions.store is None:  # versions no file provides come from the database
            self.definitions.store = uow.definitions.fetch
        self.cache = RecordCache()

    @classmethod
    def from_url(
        cls,
        url: str | None = None,
        *,
        clock: Clock | None = None,
        definitions: DefinitionRegistry | None = None,
    ) -> Services:
        """Services on a database URL (default $PATHWAY_DATABASE_URL, else ./pathway.db)."""
        from engine.store.db import check_revision, database_url, make_engine
        from engine.store.uow import SqlUnitOfWork

        engine = make_engine(database_url(url), create=False)
        try:
            check_revision(engine)  # a schema this code does not know is refused, with what to do
        except BaseException:
            engine.dispose()
            raise
        return cls(SqlUnitOfWork(engine), clock=clock, definitions=definitions)

    def close(self) -> None:
        """Release the unit of work's database connection (if it holds one)."""
        close = getattr(self.uow, "close", None)
        if close is not None:
            close()

    # -- reads ----------------------------------------------------------------------------

    def load(self, patient_id: str) -> LoadedPatient:
        """Read a patient (UnknownPatient if not enrolled); nothing is written."""
        with self.uow as uow:
            return self._load(uow, patient_id, None)

    def _moving(self, patient_id: str, expect: int | None, write: Callable[[bool], _T]) -> _T:
        """Run a write to one patient, first on their cached record without reading them.

        The write's compare-and-swap proves that the cached version is still the patient's (and
        the log up to a version never changes), so a write that commits was decided on exactly
        what a fresh read would have given. A refusal decided on the cache (a lost
        compare-and-swap, a blocked guard, a trigger from another state, …) may be the cache's
        doing: the write runs again from a fresh read, which raises the error if it holds.
        `write(cached)` does the work; nothing is written before its commit.
        """
        known = self.cache.version_of(patient_id)
        if known is None or (expect is not None and expect != known):
            return write(False)
        try:
            return write(True)
        except _CACHE_REFUSALS:
            self.cache.drop(patient_id)
        return write(False)

    def _load(
        self, uow: UnitOfWork, patient_id: str, expect: int | None, *, cached: bool = False
    ) -> LoadedPatient:
        if cached:
            p = self.cache.peek(patient_id)
            if p is not None:
                return p
        known = self.cache.version_of(patient_id)
        loaded = uow.patients.load_facts(patient_id, known)
        if loaded is None:
            raise UnknownPatient(patient_id)
        head, payloads = loaded
        if expect is not None and expect != head.version:
            raise StaleVersion(patient_id, expect, head.version)
        hit = self.cache.get(patient_id, head.version)  # never None when `known` is current
        if hit is not None:
            return hit.at(head)
        definition = self.definitions.get(head.definition_id, head.definition_version)
        enrolled, *facts = json.loads("[" + ",".join(payloads) + "]")  # one parse for the log
        header = {"profile": enrolled.get("profile", {}), "history": enrolled.get("history", {})}
        doc = rebuild(patient_id, header, facts)
        record = parse_record(doc, catalog=definition.catalog)
        patient = LoadedPatient(head, definition, header, facts, record)
        self.cache.put(patient)
        return patient

    def record_of(self, patient_id: str) -> PatientRecord:
        """The patient record rebuilt from the log."""
        return self.load(patient_id).record

    def status(self, patient_id: str, *, as_of: dt.date | None = None) -> PatientStatus:
        """State, days in state, the guards from here with reasons, recommendation, what is due."""
        day = as_of or self.clock.today()
        p = self.load(patient_id)
        d, state = p.definition, p.head.state
        if day < p.head.entered_state_on:  # the guards from here would not be the ones of then
            raise BeforeEntry(
                patient_id,
                day,
                state,
                p.head.entered_state_on,
                what="as-of date",
                hint=(
                    ": the status judges the current state (the history shows what happened before)"
                ),
            )
        facts = p.facts(day)
        guards, enabled, recommended = decide(d, facts, state)
        st = d.state_by_id[state]
        return PatientStatus(
            patient_id=patient_id,
            definition=p.ref,
            state=state,
            state_label=st.label,
            state_kind=st.kind,
            version=p.head.version,
            entered_state_on=p.head.entered_state_on,
            days_in_state=(day - p.head.entered_state_on).days,
            as_of=day,
            guards=guards,
            enabled=enabled,
            recommended=recommended,
            due=due_list(
                d,
                patient_id=patient_id,
                state=state,
                entered_state_on=p.head.entered_state_on,
                facts=facts,
                as_of=day,
                guards=guards,
            ),
        )

    def history(self, patient_id: str) -> PatientHistory:
        """The timeline of facts and moves with their reasons, by effective date."""
        with self.uow as uow:
            loaded = uow.patients.load(patient_id)
        if loaded is None:
            raise UnknownPatient(patient_id)
        head, events = loaded
        entries = [history_entry(e) for e in events]
        entries.sort(key=lambda h: (h.effective_on, h.version))
        return PatientHistory(
            patient_id=patient_id,
            definition=DefinitionRef(id=head.definition_id, version=head.definition_version),
            state=head.state,
            version=head.version,
            entries=entries,
        )

    # -- writes ---------------------------------------------------------------------------

    def enroll(
        self,
        patient_id: str,
        *,
        actor: str,
        record: PatientRecord | Mapping[str, Any] | None = None,
        definition: Definition | str | Path | None = None,
        effective: dt.date | None = None,
    ) -> Enrolled:
        """Enroll a patient at the definition's initial state, optionally with a record."""
        check_patient_id(patient_id)
        check_actor(actor)
        defn = self._definition(definition)
        rec = _as_record(record, defn) if record is not None else None
        if rec is not None and rec.id != patient_id:
            raise RecordError(
                [
                    Issue(
                        loc="id",
                        value=rec.id,
                        message=f"the record is for '{rec.id}', not '{patient_id}'",
                    )
                ]
            )
        head, events = build_enrollment(
            patient_id,
            record=rec,
            definition=defn,
            actor=actor,
            today=self.clock.today(),
            now=self.clock.now(),
            effective=effective,
        )
        with self.uow as uow:
            uow.definitions.pin(defn, self.clock.now())
            uow.patients.add(head, events)
            uow.commit()
            log.info("enrolled %s on %s %s (%d events)", patient_id, *defn.key, len(events))
        return Enrolled(
            patient_id=patient_id,
            definition=DefinitionRef(id=defn.metadata.id, version=defn.metadata.version),
            state=head.state,
            version=head.version,
            effective_on=head.entered_state_on,
            facts=len(events) - 1,
        )

    def record(
        self,
        patient_id: str,
        *,
        facts: Fact | Mapping[str, Any] | Sequence[Fact | Mapping[str, Any]],
        actor: str,
        effective: dt.date | None = None,
        expect_version: int | None = None,
    ) -> Recorded:
        """Append facts; refused (nothing written) if the rebuilt record would be invalid."""
        check_actor(actor)
        parsed = _as_facts(facts)
        today, now = self.clock.today(), self.clock.now()
        day = _not_future(effective, today)
        payloads = [payload_of(f) for f in parsed]
        refuse_future(payloads, today)
        if effective is not None:  # it dates only facts without a date of their own
            check_effective_agrees(payloads, effective)

        def write(cached: bool) -> Recorded:
            written = list(payloads)  # a retry starts from the facts as given
            with self.uow as uow:
                p = self._load(uow, patient_id, expect_version, cached=cached)
                doc = p.document()
                new_trials: list[tuple[int, int]] = []  # (payload index, trial index)
                for i, (f, payload) in enumerate(zip(parsed, written, strict=True)):
                    if isinstance(f, TrialStarted):
                        new_trials.append((i, len(doc["trials"])))
                    try:  # a new fact may not contradict the record (replay does not check)
                        check_new(doc, payload, catalog=p.definition.catalog)
                    except RecordError as exc:
                        at = f"[{i}]." if len(written) > 1 else ""
                        issues = [x.model_copy(update={"loc": at + x.loc}) for x in exc.issues]
                        raise RecordError(issues, source=f"patient {patient_id}") from None
                    apply(doc, dict(payload))
                try:
                    record = parse_record(doc, catalog=p.definition.catalog)
                except RecordError as exc:
                    raise RecordError(
                        exc.issues, source=f"patient {patient_id} with the new facts"
                    ) from None
                for i, t in new_trials:  # store the generic drug name the record resolved
                    written[i] = {**written[i], "drug": record.trials[t].drug}
                v = p.head.version
                events = [
                    event_row(
                        patient_id,
                        v + n,
                        "fact",
                        actor=actor,
                        effective_on=fact_date(pl) or day,
                        recorded_at=now,
                        payload=pl,
                        fact_kind=pl["fact"],
                    )
                    for n, pl in enumerate(written, start=1)
                ]
                due, items = next_due(
                    p.definition,
                    record=record,
                    state=p.head.state,
                    entered_state_on=p.head.entered_state_on,
                    as_of=today,
                    patient=patient_id,
                )
                head = replace(
                    p.head, version=v + len(events), next_due_on=due, updated_at=now, due=items
                )
                uow.patients.append(head, events, expected_version=v)
                uow.commit()
                log.info("recorded %d facts for %s (v%d)", len(events), patient_id, head.version)
            self.cache.put(
                LoadedPatient(head, p.definition, p.header, [*p.fact_payloads, *written], record)
            )
            return Recorded(
                patient_id=patient_id,
                version=head.version,
                entries=[history_entry(e) for e in events],
            )

        return self._moving(patient_id, expect_version, write)

    def advance(
        self,
        patient_id: str,
        *,
        trigger: str,
        actor: str,
        effective: dt.date | None = None,
        expect_version: int | None = None,
    ) -> Moved:
        """Take a transition whose guard is true (TransitionBlocked / InvalidTrigger otherwise)."""
        check_actor(actor)
        today, now = self.clock.today(), self.clock.now()
        day = _not_future(effective, today)

        def write(cached: bool) -> Moved:
            with self.uow as uow:
                p = self._load(uow, patient_id, expect_version, cached=cached)
                _not_before_entry(p, day)
                facts = p.facts(day)
                move = step(p.definition, p.head.state, trigger, facts)
                v = p.head.version + 1
                event = event_row(
                    patient_id,
                    v,
                    "transition",
                    actor=actor,
                    effective_on=day,
                    recorded_at=now,
                    payload='{"guard":' + move.guard.model_dump_json() + "}",
                    trigger=trigger,
                    from_state=move.from_state,
                    to_state=move.to_state,
                )
                head = self._moved_head(p, move.to_state, day, today, now, facts)
                uow.patients.append(head, [event], expected_version=v - 1)
                uow.commit()
                log.info(
                    "%s: %s %s → %s (v%d)", patient_id, trigger, move.from_state, move.to_state, v
                )
            self.cache.put(p.at(head))
            return _new_moved(  # trusted values in field order: no validation on the hot path
                {
                    "patient_id": patient_id,
                    "kind": "transition",
                    "trigger": trigger,
                    "from_state": move.from_state,
                    "to_state": move.to_state,
                    "version": v,
                    "effective_on": day,
                    "reason_code": None,
                    "guard": move.guard,
                }
            )

        return self._moving(patient_id, expect_version, write)

    def override(
        self,
        patient_id: str,
        *,
        to: str,
        reason: str,
        note: str,
        actor: str,
        effective: dt.date | None = None,
        expect_version: int | None = None,
    ) -> Moved:
        """Move a patient against (or without) the guards, with a reason code and a note."""
        if reason not in REASON_CODES:
            raise UnknownReasonCode(reason, list(REASON_CODES))
        check_actor(actor)
        note = check_note(note)
        today, now = self.clock.today(), self.clock.now()
        day = _not_future(effective, today)

        def write(cached: bool) -> Moved:
            with self.uow as uow:
                p = self._load(uow, patient_id, expect_version, cached=cached)
                d, state = p.definition, p.head.state
                if to not in d.state_by_id:
                    raise InvalidOverride(
                        f"unknown state {excerpt(to)} in definition "
                        f"{d.metadata.id} {d.metadata.version}"
                        f"{did_you_mean(to, d.state_by_id)}; states: {', '.join(d.state_by_id)}"
                    )
                if to == state:
                    raise InvalidOverride(f"patient {patient_id} is already in '{to}'")
                _not_before_entry(p, day)
                facts = p.facts(day)
                overridden = [g.model_dump(mode="json") for g in guard_results(d, facts, state)]
                v = p.head.version + 1
                event = event_row(
                    patient_id,
                    v,
                    "override",
                    actor=actor,
                    effective_on=day,
                    recorded_at=now,
                    payload={"guards": overridden},
                    from_state=state,
                    to_state=to,
                    reason_code=reason,
                    note=note.strip(),
                )
                head = self._moved_head(p, to, day, today, now, facts)
                uow.patients.append(head, [event], expected_version=v - 1)
                uow.commit()
                log.info("%s: override %s → %s (%s, v%d)", patient_id, state, to, reason, v)
            self.cache.put(p.at(head))
            return Moved(
                patient_id=patient_id,
                kind="override",
                trigger=None,
                from_state=state,
                to_state=to,
                version=v,
                effective_on=day,
                reason_code=reason,
            )

        return self._moving(patient_id, expect_version, write)

    # -- bulk and audit (engine.bulk, engine.queries.audit) ----------------------------------------

    def bulk_enroll(
        self,
        records: Iterable[tuple[str, Any] | PatientRecord | dict[str, Any]],
        *,
        actor: str,
        batch_size: int = 1,
        skip_existing: bool = False,
        effective: dt.date | None = None,
        compute_due: bool = True,
        on_progress: Any = None,
    ) -> ImportReport:
        """Enroll many (source, record) pairs; see `engine.bulk.bulk_enroll`."""
        from engine.bulk import bulk_enroll

        check_actor(actor)
        return bulk_enroll(
            self,
            records,
            actor=actor,
            batch_size=batch_size,
            skip_existing=skip_existing,
            effective=effective,
            compute_due=compute_due,
            on_progress=on_progress,
        )

    def verify(
        self, *, deep: bool = False, on_progress: Any = None, workers: int = 1
    ) -> VerifyReport:
        """Replay every patient and report mismatches; see `engine.queries.audit.verify`."""
        from engine.queries.audit import verify

        return verify(self, deep=deep, on_progress=on_progress, workers=workers)

    def migrate(
        self,
        to: Definition | str | Path,
        *,
        actor: str,
        state: str | None = None,
        dry_run: bool = False,
    ) -> MigrationResult:
        """Move pinned patients to another version (a Definition, a file, or a stored or loaded
        version of the default definition's id); see `engine.migrate`."""
        from engine.migrate import migrate

        return migrate(self, self._target(to), actor=actor, state=state, dry_run=dry_run)

    def _target(self, to: Definition | str | Path) -> Definition:
        if isinstance(to, str) and re.fullmatch(r"\d+\.\d+\.\d+", to):
            return self.definitions.get(self.definitions.default.metadata.id, to)
        return self._definition(to)

    def stored_definitions(self) -> list[StoredVersion]:
        """Every definition version the engine has used, with the patients it holds."""
        return [
            StoredVersion(
                id=s.definition_id,
                version=s.version,
                sha256=s.sha256,
                first_seen=s.first_seen,
                patients=n,
            )
            for s, n in self.uow.definitions.listing()
        ]

    def migrate_check(
        self,
        new: Definition | str | Path,
        *,
        as_of: dt.date | None = None,
        on_progress: Any = None,
    ) -> MigrationReport:
        """Who a new definition version would strand or treat differently
        (`engine.queries.audit`)."""
        from engine.queries.audit import migrate_check

        return migrate_check(self, new, as_of=as_of, on_progress=on_progress)

    def pin(self, definition: Definition) -> str:
        """Store a definition the engine is about to use, once (DefinitionConflict if another
        content holds its id and version); its SHA-256."""
        with self.uow as uow:
            sha = uow.definitions.pin(definition, self.clock.now())
            uow.commit()
        return sha

    # -- helpers --------------------------------------------------------------------------

    def _definition(self, definition: Definition | str | Path | None) -> Definition:
        if definition is None:
            return self.definitions.default
        if isinstance(definition, Definition):
            self.definitions.add(definition)
            return definition
        return self.definitions.load(definition)

    def _moved_head(
        self,
        p: LoadedPatient,
        to: str,
        day: dt.date,
        today: dt.date,
        now: dt.datetime,
        facts: Facts,
    ) -> EnrollmentRow:
        due, items = next_due(
            p.definition,
            record=p.record,
            state=to,
            entered_state_on=day,
            as_of=today,
            facts=p.facts(today, to, day) if facts.as_of == today else None,
            patient=p.head.patient_id,
        )
        h = p.head
        return EnrollmentRow(
            h.patient_id,
            h.definition_id,
            h.definition_version,
            to,
            h.version + 1,
            day,
            due,
            h.created_at,
            now,
            items,
        )


def _as_record(record: PatientRecord | Mapping[str, Any], definition: Definition) -> PatientRecord:
    if isinstance(record, PatientRecord):
        return record
    return parse_record(dict(record), catalog=definition.catalog)


def _as_facts(facts: Fact | Mapping[str, Any] | Sequence[Fact | Mapping[str, Any]]) -> list[Fact]:
    items: list[Any] = (
        [facts] if isinstance(facts, Mapping) or not isinstance(facts, Sequence) else list(facts)
    )
    raw = [dict(i) for i in items if isinstance(i, Mapping)]
    if raw and len(raw) != len(items):
        raise TypeError("pass facts as models or as mappings, not both")
    return parse_facts(raw) if raw else list(items)


def _not_future(effective: dt.date | None, today: dt.date) -> dt.date:
    """A write's effective date: today by default, never in the future nor before 1900."""
    if effective is not None:
        if effective > today:
            raise FutureDate("effective date", effective, today)
        check_effective(effective)
    return effective or today


def _not_before_entry(p: LoadedPatient, day: dt.date) -> None:
    if day < p.head.entered_state_on:
        raise BeforeEntry(p.head.patient_id, day, p.head.state, p.head.entered_state_on)
