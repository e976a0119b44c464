"""The engine's commands: init-db, enroll, record, status, advance, override, history, import,
verify, migrate-check. Thin wrappers over `engine.services`; each has `--json`.

The database is `--db` (a URL or a SQLite file path), else $PATHWAY_DATABASE_URL, else
`pathway.db` here. Errors print one clear message on stderr and exit 2, having written nothing.
Heavy imports (SQLAlchemy, transitions) happen inside the commands, so `pathway assess` stays fast.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from engine.cli import common
from engine.cli.common import EXIT_INTERNAL, EXIT_INVALID, dump_json, handle_errors, show

if TYPE_CHECKING:
    from engine.services import Services

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL or SQLite file (default $PATHWAY_DATABASE_URL, else ./pathway.db).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ActorOpt = Annotated[
    str | None,
    typer.Option("--actor", help="Who records this (default $USER); kept with every event."),
]
EffectiveOpt = Annotated[
    str | None,
    typer.Option(
        "--effective", help="Clinical date YYYY-MM-DD (back-dating allowed; default today)."
    ),
]
ExpectOpt = Annotated[
    int | None,
    typer.Option(
        "--expect-version", help="Refuse (stale version) unless the patient is at this version."
    ),
]
PatientArg = Annotated[str, typer.Argument(help="Pseudonymous patient id.")]


def parse_date(value: str | None, option: str) -> dt.date | None:
    """A YYYY-MM-DD option value (RecordError naming the option otherwise)."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        from pathway.errors import Issue, RecordError

        raise RecordError(
            [Issue(loc=option, value=value, message="expected a date YYYY-MM-DD")]
        ) from None


def parse_window(since: str | None, until: str | None) -> tuple[dt.date | None, dt.date | None]:
    """--since and --until as dates, the window not empty (RecordError naming --until if it
    ends before it opens)."""
    first, last = parse_date(since, "--since"), parse_date(until, "--until")
    if first is not None and last is not None and last < first:
        from pathway.errors import Issue, RecordError

        raise RecordError(
            [Issue(loc="--until", value=until, message=f"the window ends before --since {since}")]
        )
    return first, last


def parse_effective(value: str | None) -> dt.date | None:
    """--effective: a date YYYY-MM-DD, not before 1900 (the rule and wording of every date in a
    patient record); RecordError naming --effective otherwise. Future dates are the services'."""
    day = parse_date(value, "--effective")
    if day is not None:
        from engine.enrolling import check_effective

        check_effective(day, loc="--effective", given=value)
    return day


def actor_of(value: str | None) -> str:
    """--actor, else $USER, else the login name. A given --actor (an empty one too) must be a
    valid actor: it is never silently replaced by $USER."""
    if value is not None:
        from engine.enrolling import check_actor
        from pathway.errors import RecordError

        try:
            check_actor(value)
        except RecordError as exc:
            raise RecordError(
                [i.model_copy(update={"loc": "--actor", "value": value}) for i in exc.issues]
            ) from None
        return value
    try:
        return os.environ.get("USER") or getpass.getuser()
    except Exception:  # no user database (containers)
        return "unknown"


@contextlib.contextmanager
def patients_progress(
    label: str, *, disable: bool, total: Callable[[], int | None] | None = None
) -> Iterator[Callable[[int], None]]:
    """A transient progress bar of the patients done so far (of `total()`, asked only when the
    bar is shown), on stderr, and only when stderr is a terminal: never in piped output or logs,
    never with --json."""
    import sys

    if disable or not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn(f"{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("patients"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=common.err, transient=True) as bar:
        task = bar.add_task(label, total=total() if total is not None else None)
        step = 0

        def tick(n: int) -> None:
            nonlocal step
            if n - step >= 100 or n < 100:  # a redraw per 100 patients is plenty
                step = n
                bar.update(task, completed=n)

        yield tick


@contextlib.contextmanager
def services(db: str | None) -> Iterator[Services]:
    """Services on the chosen database; the engine is disposed when the command ends."""
    from engine.services import Services
    from engine.store.db import check_revision, database_url, make_engine
    from engine.store.uow import SqlUnitOfWork

    engine = make_engine(database_url(db), create=False)
    try:
        check_revision(engine)
    except BaseException:
        engine.dispose()
        raise
    svc = Services(SqlUnitOfWork(engine))
    try:
        yield svc
    finally:
        svc.close()
        engine.dispose()


def register(app: typer.Typer) -> None:
    """Add the engine's commands to the `pathway` app."""
    for fn in (
        init_db,
        enroll,
        record,
        status,
        advance,
        override,
        history,
        import_records,
        verify,
        migrate_check,
    ):
        name = fn.__name__.replace("_", "-")
        if fn is import_records:
            name = "import"
        app.command(name)(handle_errors(fn))


def init_db(
    db: DbOpt = None,
    cohort_rollup: Annotated[
        bool | None,
        typer.Option(
            "--cohort-rollup/--no-cohort-rollup",
            help="Install (or drop) counters that triggers keep per move, so cohort overlays "
            "(with --since/--until too) need no pass over the log; they slow bulk writes.",
        ),
    ] = None,
    grant: Annotated[
        str | None,
        typer.Option(
            "--grant",
            help="PostgreSQL: give this application role SELECT and INSERT on the event log "
            "(no UPDATE, DELETE or TRUNCATE) and what else the engine needs.",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create or upgrade the database schema (alembic upgrade head), and an installed cohort
    rollup with it; concurrent runs wait."""
    from engine.store import overlay_rollup
    from engine.store.db import database_url, make_engine, redact
    from engine.upgrade import upgrade

    url = database_url(db)
    engine = make_engine(url)
    try:
        rev = upgrade(engine, grant=grant)
        with engine.connect() as conn:
            has_rollup = overlay_rollup.installed(conn)
            up_to_date = overlay_rollup.current(conn)
        wanted = cohort_rollup is True or (cohort_rollup is None and has_rollup)
        if wanted and not up_to_date:  # none yet, or an older one: built again from the log
            overlay_rollup.install(engine)
        elif cohort_rollup is False and has_rollup:
            overlay_rollup.uninstall(engine)
        if cohort_rollup is not None:
            has_rollup = cohort_rollup
        if grant is not None and has_rollup:  # the rollup's tables came after the grant
            from engine.store.db import grant_role

            with engine.begin() as conn:
                grant_role(conn, grant)
    finally:
        engine.dispose()
    if json_out:
        dump_json({"database": redact(url), "revision": rev, "cohort_rollup": has_rollup})
    else:
        rollup = "with" if has_rollup else "without"
        common.out.print(
            f"database ready: {redact(url)} (schema revision {rev}, {rollup} cohort rollup)",
            markup=False,
        )


def enroll(
    patient_id: PatientArg,
    record_file: Annotated[
        str | None, typer.Option("--record", help="Patient record (JSON or YAML) to start from.")
    ] = None,
    definition: Annotated[
        str | None, typer.Option("--definition", "-d", help="Definition id or YAML (default: trd).")
    ] = None,
    effective: EffectiveOpt = None,
    actor: ActorOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Enroll a patient at the pathway's initial state (optionally with their record)."""
    from pathway.record import load_record

    day = parse_effective(effective)
    with services(db) as svc:
        defn = svc.definitions.load(definition) if definition else svc.definitions.default
        rec = load_record(record_file, catalog=defn.catalog) if record_file else None
        result = svc.enroll(
            patient_id, record=rec, definition=defn, actor=actor_of(actor), effective=day
        )
    if json_out:
        dump_json(result)
    else:
        common.out.print(
            f"enrolled {result.patient_id} on {result.definition.id} "
            f"{result.definition.version} in '{result.state}' with {result.facts} facts "
            f"(version {result.version})",
            markup=False,
        )


def _field_value(text: str) -> Any:
    """'12' → 12, '0.9' → 0.9, 'true' → True, 'null' → None; anything else stays a string."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, int | float | bool) or value is None else text


def facts_from_args(kind: str | None, fields: list[str], file: str | None) -> Any:
    """The facts of `record`: from --file (JSON/YAML: a fact or a list) or KIND key=value…"""
    from engine.factlog import parse_facts
    from pathway.errors import DefinitionError, Issue, RecordError
    from pathway.yamlio import read_data

    if file is not None:
        if kind is not None or fields:
            raise RecordError([Issue(loc="--file", message="give either --file or KIND fields")])
        try:
            data, _ = read_data(file)
        except DefinitionError as exc:  # a malformed facts file: it is the facts that are bad
            raise RecordError(exc.issues, source=exc.source) from None
        return parse_facts(data, source=Path(file).name if file != "-" else "<stdin>")
    if kind is None:
        raise RecordError([Issue(loc="KIND", message="name a fact kind or pass --file")])
    fact: dict[str, Any] = {"fact": kind}
    for f in fields:
        key, sep, raw = f.partition(":=") if ":=" in f else f.partition("=")
        if not sep or not key:
            raise RecordError([Issue(loc=f, message="expected field=value (or field:=json)")])
        try:
            fact[key] = json.loads(raw) if sep == ":=" else _field_value(raw)
        except ValueError:
            raise RecordError([Issue(loc=key, value=raw, message="malformed JSON")]) from None
    return parse_facts(fact)


def record(
    patient_id: PatientArg,
    kind: Annotated[
        str | None,
        typer.Argument(
            help="Fact kind: trial_started, dose_changed, trial_ended, trial_updated, measurement, "
            "screen, lab, contributor, risk, procedure, profile, history."
        ),
    ] = None,
    fields: Annotated[
        list[str] | None,
        typer.Argument(
            help="field=value pairs, named as in the patient record (field:=json for JSON)."
        ),
    ] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file", "-f", help="Facts as JSON/YAML: one fact or a list (each with 'fact')."
        ),
    ] = None,
    effective: EffectiveOpt = None,
    expect_version: ExpectOpt = None,
    actor: ActorOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Record facts (validated like a patient record; refused if the record would be invalid)."""
    facts = facts_from_args(kind, fields or [], file)
    day = parse_effective(effective)
    if day is not None:  # --effective dates facts without a date; it may not contradict one
        from engine.enrolling import check_effective_agrees
        from engine.factlog import payload_of

        check_effective_agrees([payload_of(f) for f in facts], day, option="--effective")
    with services(db) as svc:
        result = svc.record(
            patient_id,
            facts=facts,
            actor=actor_of(actor),
            effective=day,
            expect_version=expect_version,
        )
    if json_out:
        dump_json(result)
        return
    for e in result.entries:
        common.out.print(
            f"{result.patient_id} v{e.version} {e.effective_on}: {e.summary}", markup=False
        )


def status(
    patient_id: PatientArg,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Date (default today).")] = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Where a patient is, for how long, the guards from here with reasons, and what is due."""
    from engine.cli.render import render_status

    with services(db) as svc:
        result = svc.status(patient_id, as_of=parse_date(as_of, "--as-of"))
    show(result, json_out=json_out, render=render_status)


def advance(
    patient_id: PatientArg,
    trigger: Annotated[str, typer.Argument(help="Transition to take (see `status`).")],
    expect_version: ExpectOpt = None,
    effective: EffectiveOpt = None,
    actor: ActorOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Take a transition whose guard is true (blocked moves are refused with the reasons)."""
    day = parse_effective(effective)
    with services(db) as svc:
        result = svc.advance(
            patient_id,
            trigger=trigger,
            actor=actor_of(actor),
            effective=day,
            expect_version=expect_version,
        )
    if json_out:
        dump_json(result)
    else:
        common.out.print(
            f"{patient_id}: {trigger}: {result.from_state} → {result.to_state} "
            f"(version {result.version}, effective {result.effective_on})",
            markup=False,
        )


def override(
    patient_id: PatientArg,
    to: Annotated[str, typer.Option("--to", help="State to move the patient to.")],
    reason: Annotated[str, typer.Option("--reason", help="Reason code (fixed list).")],
    note: Annotated[str, typer.Option("--note", help="Why, in words.")],
    expect_version: ExpectOpt = None,
    effective: EffectiveOpt = None,
    actor: ActorOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Move a patient regardless of the guards, recorded as an override with a reason code."""
    day = parse_effective(effective)
    with services(db) as svc:
        result = svc.override(
            patient_id,
            to=to,
            reason=reason,
            note=note,
            actor=actor_of(actor),
            effective=day,
            expect_version=expect_version,
        )
    if json_out:
        dump_json(result)
    else:
        common.out.print(
            f"{patient_id}: override {result.from_state} → {result.to_state} "
            f"({reason}; version {result.version})",
            markup=False,
        )


def history(patient_id: PatientArg, db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """The patient's timeline: facts and moves, with the reasons for each move."""
    from engine.cli.render import render_history

    with services(db) as svc:
        result = svc.history(patient_id)
    show(result, json_out=json_out, render=render_history)


def import_records(
    path: Annotated[
        str,
        typer.Argument(
            help="A record file (JSON/YAML, a list, or JSON Lines) or a folder of them."
        ),
    ],
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size", min=1, help="Patients per transaction (each patient is atomic)."
        ),
    ] = 1,
    skip_existing: Annotated[
        bool,
        typer.Option(
            "--skip-existing", help="Skip patients already enrolled instead of reporting them."
        ),
    ] = False,
    effective: EffectiveOpt = None,
    actor: ActorOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Enroll many patient records, one transaction per patient; exit 2 if any was refused."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from engine.bulk import iter_records
    from pathway.errors import Issue, RecordError

    if not Path(path).exists():
        raise RecordError([Issue(loc="PATH", value=path, message="no such file or folder")])
    day = parse_effective(effective)
    records = list(iter_records(path))
    with (
        services(db) as svc,
        Progress(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            console=common.err,
            transient=True,
            disable=json_out,
        ) as bar,
    ):
        task = bar.add_task("import", total=len(records))
        report = svc.bulk_enroll(
            records,
            actor=actor_of(actor),
            batch_size=batch_size,
            skip_existing=skip_existing,
            effective=day,
            on_progress=lambda n: bar.update(task, completed=n),
        )
    if json_out:  # no timing: the same input gives the same JSON
        dump_json(report.model_dump(mode="json", exclude={"seconds"}))
    else:
        common.out.print(
            f"read {report.read} records: enrolled {report.enrolled} "
            f"({report.events} events), skipped {report.skipped_existing} already enrolled,"
            f" refused {len(report.problems)}",
            markup=False,
        )
        common.err.print(f"import took {report.seconds:.2f} s", markup=False)
    for p in report.problems:
        common.err.print(f"refused {p.source}: {p.message}", markup=False)
    if report.problems:
        raise typer.Exit(EXIT_INVALID)


def verify(
    deep: Annotated[
        bool, typer.Option("--deep", help="Also re-evaluate every transition's guard from the log.")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Check ranges of patients in this many processes (same report; default 1).",
        ),
    ] = 1,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Replay every patient's log against the stored state and recount the board; exit 1 on any
    mismatch."""
    from engine.queries.audit import enrolled_count

    with (
        services(db) as svc,
        patients_progress("verifying", disable=json_out, total=lambda: enrolled_count(svc)) as tick,
    ):
        report = svc.verify(deep=deep, on_progress=tick, workers=workers)
    if json_out:
        dump_json({**report.model_dump(mode="json"), "ok": report.ok})
    else:
        common.out.print(
            f"verified {report.patients} patients, {report.events} events: "
            f"{len(report.mismatches)} mismatch(es)",
            markup=False,
        )
        for m in report.mismatches:
            common.out.print(f"  {m.patient_id}: {m.problem}", markup=False)
        for problem in [*report.board_counts, *report.definitions, *report.cohort_rollup]:
            common.out.print(f"  {problem}", markup=False)
    if not report.ok:
        raise typer.Exit(EXIT_INTERNAL)


def migrate_check(
    new_definition: Annotated[str, typer.Argument(help="The new definition YAML.")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Date (default today).")] = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Which enrolled patients a new definition would strand or treat differently."""
    from pathway.loader import load_definition

    target = load_definition(new_definition)
    from engine.queries.audit import enrolled_count

    with (
        services(db) as svc,
        patients_progress("checking", disable=json_out, total=lambda: enrolled_count(svc)) as tick,
    ):
        report = svc.migrate_check(target, as_of=parse_date(as_of, "--as-of"), on_progress=tick)
    if json_out:
        dump_json(report)
        return
    d = report.definition
    common.out.print(
        f"{report.patients} patients on {d.id} checked against {d.version} as of "
        f"{report.as_of}: {len(report.findings)} affected",
        markup=False,
    )
    if report.removed_states:
        common.out.print(f"  removed states: {', '.join(report.removed_states)}", markup=False)
    for f in report.findings:
        common.out.print(
            f"  {f.patient_id} in '{f.state}': {f.problem.replace('_', ' ')} "
            f"({', '.join(f.old_enabled) or '-'} → {', '.join(f.new_enabled) or '-'})",
            markup=False,
        )
