"""Bulk enrollment of patient records (`pathway import`): validate, decompose, write with Core.

Each patient is atomic: its enrollment row and every event are written in one transaction, so a
crash never leaves part of a patient. `batch_size` patients share a transaction (default 1, one
per patient; larger batches amortize the fsync of a durable commit, still never a partial
patient). Rows are built once and inserted with executemany; the cyclic garbage collector is
paused while a batch is built (perf-notes: it dominates bulk object building).
"""

from __future__ import annotations

import datetime as dt
import gc
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.enrolling import PATIENT_ID, build_enrollment, check_effective
from engine.errors import AlreadyEnrolled, FutureDate
from engine.store.repository import EnrollmentRow, EventRow
from engine.views import ImportProblem, ImportReport
from pathway.errors import DefinitionError, PathwayError, RecordError
from pathway.record import PatientRecord, parse_record
from pathway.yamlio import MAX_FILE_BYTES, decode, parse_json, read_data

if TYPE_CHECKING:
    from engine.services import Services

RECORD_SUFFIXES = (".json", ".yaml", ".yml", ".jsonl")
_Item = tuple[str, EnrollmentRow, list[EventRow]]


def iter_records(path: str | Path) -> Iterator[tuple[str, Any]]:
    """(source, raw record) from a file (a record, a list of records, or JSON Lines) or a folder.

    A file that cannot be read yields (source, exception) so the import can report it.
    """
    p = Path(path)
    files = sorted(f for f in p.iterdir() if f.suffix in RECORD_SUFFIXES) if p.is_dir() else [p]
    for f in files:
        if f.suffix == ".jsonl":
            yield from _json_lines(f)
            continue
        try:
            data, _ = read_data(f)
        except PathwayError as exc:  # unreadable, too big, malformed: reported, the import goes on
            yield f.name, exc
            continue
        if isinstance(data, list):
            for i, item in enumerate(data):
                yield f"{f.name}[{i}]", item
        else:
            yield f.name, data


def _json_lines(f: Path) -> Iterator[tuple[str, Any]]:
    """Each line of a JSON Lines file, parsed strictly (a bad line is reported, not fatal)."""
    try:
        fh = f.open("rb")
    except OSError as exc:
        yield f.name, PathwayError(f"cannot read {f.name}: {exc.strerror or exc}")
        return
    with fh:
        n = 0
        while raw := fh.readline(MAX_FILE_BYTES + 1):
            n += 1
            where = f"{f.name}:{n}"
            if len(raw) > MAX_FILE_BYTES:
                yield where, PathwayError(f"a line longer than {MAX_FILE_BYTES // 2**20} MiB")
                fh.readline()  # skip the rest of it
                continue
            try:
                text = decode(raw, name=where)
                if text.strip():
                    yield where, parse_json(text, name=where)
            except PathwayError as exc:
                yield where, exc


def bulk_enroll(
    svc: Services,
    records: Iterable[tuple[str, Any] | PatientRecord | dict[str, Any]],
    *,
    actor: str,
    batch_size: int = 1,
    skip_existing: bool = False,
    effective: dt.date | None = None,
    compute_due: bool = True,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Enroll records ((source, record) pairs, or bare records) on the default definition.

    Bad records are reported in the result, never written; the others are enrolled at the
    definition's initial state, each patient atomically.
    """
    started = time.perf_counter()
    defn = svc.definitions.default
    today, now = svc.clock.today(), svc.clock.now()
    if effective is not None and effective > today:
        raise FutureDate("enrollment date", effective, today)
    if effective is not None:  # refused once, not once per record
        check_effective(effective)
    svc.pin(defn)
    problems: list[ImportProblem] = []
    seen: set[str] = set()
    batch: list[_Item] = []
    counts = {"read": 0, "enrolled": 0, "skipped": 0, "events": 0}

    def flush() -> None:
        if batch:
            _write(svc, batch, skip_existing, problems, counts)
            batch.clear()

    frozen = gc.isenabled()
    gc.disable()
    try:
        for item in records:
            counts["read"] += 1
            source, raw = _split(item, counts["read"])
            pid = raw.get("id") if isinstance(raw, dict) else getattr(raw, "id", None)
            try:
                if isinstance(raw, Exception):
                    raise raw
                rec = (
                    raw
                    if isinstance(raw, PatientRecord)
                    else parse_record(raw, catalog=defn.catalog, source=source)
                )
                if rec.id in seen:
                    raise PathwayError(f"patient {rec.id} appears twice in this import")
                head, events = build_enrollment(
                    rec.id,
                    record=rec,
                    definition=defn,
                    actor=actor,
                    today=today,
                    now=now,
                    effective=effective,
                    compute_due=compute_due,
                )
            except PathwayError as exc:
                problems.append(_problem(source, pid, exc))
            else:
                seen.add(rec.id)
                batch.append((source, head, events))
                if len(batch) >= batch_size:
                    flush()
            if on_progress is not None:
                on_progress(counts["read"])
        flush()
    finally:
        if frozen:
            gc.enable()
    return ImportReport(
        read=counts["read"],
        enrolled=counts["enrolled"],
        skipped_existing=counts["skipped"],
        events=counts["events"],
        problems=problems,
        seconds=round(time.perf_counter() - started, 3),
    )


def _split(item: Any, n: int) -> tuple[str, Any]:
    """(source, record) pairs pass through; a bare record gets its id (or #n) as its source."""
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        return item[0], item[1]
    pid = item.get("id") if isinstance(item, dict) else getattr(item, "id", None)
    return (pid if isinstance(pid, str) else f"#{n}"), item


def _problem(source: str, pid: Any, exc: PathwayError) -> ImportProblem:
    if isinstance(exc, RecordError | DefinitionError):
        detail = "; ".join(str(i) for i in exc.issues)
        message = f"invalid record: {detail}"
    else:
        message = str(exc)
    ok_id = isinstance(pid, str) and PATIENT_ID.fullmatch(pid) is not None
    return ImportProblem(source=source, patient_id=pid if ok_id else None, message=message)


def _write(
    svc: Services,
    batch: list[_Item],
    skip_existing: bool,
    problems: list[ImportProblem],
    counts: dict[str, int],
) -> None:
    try:
        with svc.uow as uow:
            existing = uow.patients.existing([h.patient_id for _, h, _ in batch])
            todo = [(h, e) for _, h, e in batch if h.patient_id not in existing]
            uow.patients.add_many(todo)
            uow.commit()
    except (sa.exc.IntegrityError, AlreadyEnrolled):
        if len(batch) == 1:  # enrolled by someone else since we looked
            existing = {batch[0][1].patient_id}
            todo = []
        else:  # a race inside the batch: retry one patient per transaction
            for item in batch:
                _write(svc, [item], skip_existing, problems, counts)
            return
    for source, head, _ in batch:
        if head.patient_id in existing:
            if skip_existing:
                counts["skipped"] += 1
            else:
                problems.append(
                    ImportProblem(
                        source=source,
                        patient_id=head.patient_id,
                        message=f"patient {head.patient_id} is already enrolled",
                    )
                )
    counts["enrolled"] += len(todo)
    counts["events"] += sum(len(e) for _, e in todo)
