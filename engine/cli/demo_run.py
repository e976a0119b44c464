"""The demo job: a fresh database, a simulated cohort, the board, the worklist, a history."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from engine.queries.board import Board
from engine.queries.worklist import Worklist
from engine.simulator import PersistReport
from engine.views import MigrationResult

if TYPE_CHECKING:
    from rich.console import Console

    from engine.services import Services
    from engine.views import PatientHistory

DEMO_SEED = 20261126
DEMO_DB = "demo.db"


class DemoResult(BaseModel):
    """What the demo did and showed."""

    model_config = ConfigDict(frozen=True)

    database: str
    simulation: PersistReport
    board: Board
    worklist: Worklist
    patient: str | None
    migration: MigrationResult | None = None


def _fresh_sqlite(url: str) -> None:
    """Delete a SQLite database file (and its WAL files) so the demo starts empty."""
    import sqlalchemy as sa

    u = sa.make_url(url)
    if u.get_backend_name() != "sqlite" or u.database in (None, "", ":memory:"):
        return
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{u.database}{suffix}").unlink(missing_ok=True)


def _must_be_empty(svc: Services, url: str) -> None:
    import sqlalchemy as sa

    from engine.store.db import redact
    from engine.store.tables import enrollment_table
    from engine.store.uow import sql_connection
    from pathway.errors import PathwayError

    with svc.uow as uow:
        conn = sql_connection(uow, "the demo")
        n = conn.execute(sa.select(sa.func.count()).select_from(enrollment_table())).scalar()
    if n:
        raise PathwayError(f"the demo needs an empty database; {redact(url)} has {n} patients")


def pick_patient(svc: Services) -> str | None:
    """A patient whose story shows the pathway at work: most moves, a review or a completed
    trial, ending in remission (else simply the one with most moves)."""
    import sqlalchemy as sa

    from engine.store.tables import enrollment_table, event_table
    from engine.store.uow import sql_connection

    enr, ev = enrollment_table(), event_table()
    moves = sa.func.count().label("moves")
    detour = sa.func.max(sa.case((ev.c.trigger.in_(("review", "complete")), 1), else_=0))
    remitted = sa.func.max(sa.case((enr.c.state == "maintenance", 1), else_=0))
    query = (
        sa.select(ev.c.patient_id)
        .join(enr, enr.c.patient_id == ev.c.patient_id)
        .where(ev.c.kind == "transition")
        .group_by(ev.c.patient_id)
        .order_by((detour + remitted).desc(), sa.func.abs(moves - 7), ev.c.patient_id)
        .limit(1)
    )
    with svc.uow as uow:
        found: str | None = sql_connection(uow, "the demo").execute(query).scalar()
        return found


def run_demo(
    db_url: str | None = None,
    out_dir: Path | str = "out",
    *,
    patients: int = 2000,
    seed: int = DEMO_SEED,
    end: dt.date | None = None,
    top: int = 15,
    console: Console | None = None,
    progress: bool = True,
) -> DemoResult:
    """Simulate `patients` into a fresh database (default `out_dir/demo.db`, made anew each
    time; a database named by `db_url` must hold no patients) and print what a coordinator
    sees: the board, the top of the worklist, one patient's history with reasons."""

    from engine.cli import board as board_view
    from engine.cli import worklist as worklist_view
    from engine.cli.common import err, out
    from engine.clock import FixedClock, SystemClock
    from engine.errors import FutureDate
    from engine.queries.board import board
    from engine.queries.worklist import worklist
    from engine.services import Services
    from engine.simulator import SimParams, describe, simulate
    from engine.simulator.describe import throughput
    from engine.store.db import init_db, make_engine, redact
    from engine.store.uow import SqlUnitOfWork

    con = console or out
    if end is not None and end > SystemClock().today():  # before anything is made or deleted
        raise FutureDate("--end", end, SystemClock().today())
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    url = db_url or f"sqlite:///{folder / DEMO_DB}"
    if db_url is None:  # the demo's own file: a new clinic each time; a named database must be
        _fresh_sqlite(url)  # empty (`_must_be_empty`), never deleted
    engine = make_engine(url)
    try:
        init_db(engine)
        # a demo that ends on a given day runs as on that day (its writes and stored items too)
        svc = Services(SqlUnitOfWork(engine), clock=None if end is None else FixedClock(end))
        _must_be_empty(svc, url)
        day = end or svc.clock.today()
        con.rule(f"Simulating {patients} patients (seed {seed}) into {redact(url)}")
        report = simulate(svc, SimParams(patients=patients, seed=seed, end=day), progress=progress)
        con.print(describe(report), markup=False)
        if console is None:  # the run's own figure: not in what people diff
            err.print(throughput(report), markup=False)
        migration = migrate_legacy(svc, patients=max(1, patients // 4), seed=seed, end=day)
        render_migration(migration, con)
        result_board = board(svc, as_of=day)
        board_view.render(result_board, con)
        result_list = worklist(svc, as_of=day, limit=top)
        worklist_view.render(result_list, con)
        pid = pick_patient(svc)
        if pid is not None:
            render_history(svc.history(pid), con)
        diagrams = write_diagrams(svc, folder, as_of=day, patient=pid)
        con.rule("Diagrams")
        for path in diagrams:
            con.print(f"wrote {path}", markup=False)
        named = folder / DEMO_DB if db_url is None else redact(url)
        con.print(f"database: {redact(url)} (try: pathway status {pid} --db {named})")
    finally:
        engine.dispose()
    return DemoResult(
        database=redact(url),
        simulation=report,
        board=result_board,
        worklist=result_list,
        patient=pid,
        migration=migration,
    )


LEGACY = "V1-"  # ids of the patients the demo enrolls on version 1.0.0


def migrate_legacy(svc: Services, *, patients: int, seed: int, end: dt.date) -> MigrationResult:
    """A cohort that lived its story under version 1.0.0 (the shipped `trd-1.0.0.yaml`), then
    moved to the current version by `pathway migrate`: what a real upgrade looks like."""
    from engine.simulator import SimParams, simulate
    from pathway.loader import load_definition
    from pathway.yamlio import definitions_dir

    old = load_definition(definitions_dir() / "trd-1.0.0.yaml")
    svc.definitions.add(old)
    params = SimParams(patients=patients, seed=seed + 1, end=end, id_prefix=LEGACY)
    simulate(svc, params, definition=old, progress=False)
    return svc.migrate(svc.definitions.default, actor="demo")


def render_migration(result: MigrationResult, console: Console) -> None:
    """What a migration did: who moved, who was refused, and whose enabled moves changed, by
    state and by change."""
    from collections import Counter

    from rich.table import Table

    d = result.definition
    changed = [m for m in result.moved if m.old_enabled != m.new_enabled]
    console.rule(f"Migration of the {LEGACY}* patients from 1.0.0 to {d.id} {d.version}")
    console.print(
        f"{len(result.moved)} moved, {len(result.refused)} refused; {len(changed)} now have "
        "other enabled moves (each move is a `migrated` event in their history)",
        markup=False,
    )
    table = Table(title="Enabled moves that changed, by state", title_justify="left")
    for name in ("state", "patients", "before (1.0.0)", "after"):
        table.add_column(name, overflow="fold")
    patterns = Counter(
        (m.state, ", ".join(m.old_enabled) or "-", ", ".join(m.new_enabled) or "-") for m in changed
    )
    for (state, before, after), n in sorted(patterns.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(state, str(n), before, after)
    console.print(table)


def write_diagrams(
    svc: Services, folder: Path, *, as_of: dt.date, patient: str | None
) -> list[Path]:
    """The plain pathway, the cohort overlay and one patient's path, as SVG (DOT without `dot`)."""
    import shutil

    import viz
    from engine.queries.overlays import cohort_summary, patient_path
    from pathway.loader import load_definition

    fmt = "svg" if shutil.which("dot") else "dot"
    definition = load_definition()
    cohort = cohort_summary(svc, as_of=as_of, definition_id=definition.metadata.id)
    paths = [
        viz.render_to_file(definition, path=folder / f"pathway.{fmt}"),
        viz.render_to_file(definition, path=folder / f"cohort.{fmt}", cohort=cohort),
    ]
    if patient is not None:
        path = patient_path(svc, patient, as_of=as_of)
        paths.append(
            viz.render_to_file(definition, path=folder / f"patient-{patient}.{fmt}", patient=path)
        )
    return paths


def render_history(history: PatientHistory, console: Console) -> None:
    """A patient's timeline; each move with the guard results that allowed it."""
    from rich.table import Table

    table = Table(
        title=f"History of {history.patient_id} (now in {history.state})", title_justify="left"
    )
    for name in ("date", "what", "details"):
        table.add_column(name, overflow="fold")
    for e in history.entries:
        if e.kind in ("transition", "override"):
            what = f"[bold]{e.trigger or 'override'}[/]: {e.from_state} → {e.to_state}"
            reasons = (
                [f"{r.result}: {r.predicate} — {r.detail}" for r in e.guard.reasons]
                if e.guard is not None
                else [f"{e.reason_code}: {e.note}"]
            )
            table.add_row(e.effective_on.isoformat(), what, "\n".join(reasons))
        else:
            table.add_row(e.effective_on.isoformat(), e.kind, e.summary)
    console.print(table)
