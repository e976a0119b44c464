"""`pathway fhir import|export|plandefinition|audit`: FHIR R4 in and out of the engine."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from engine.cli import common
from engine.cli.common import EXIT_INVALID, dump_json, handle_errors
from engine.cli.patients import (
    ActorOpt,
    DbOpt,
    JsonOpt,
    PatientArg,
    actor_of,
    parse_date,
    parse_window,
    services,
)

fhir_app = typer.Typer(no_args_is_help=True, help="FHIR R4 import and export.")


def _print_json(value: object) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


@fhir_app.command("import")
@handle_errors
def import_command(
    paths: Annotated[
        list[str], typer.Argument(help="Bundle JSON files, NDJSON files, or folders of them.")
    ],
    db: DbOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be written; write nothing.")
    ] = False,
    actor: ActorOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Map FHIR R4 resources to patient records; enroll new patients, add new facts to enrolled
    ones; exit 2 if anyone was refused (each patient all-or-nothing)."""
    from engine.fhir.importing import import_fhir
    from engine.fhir.reading import read_paths

    items = list(read_paths(paths))
    if dry_run and db is None:  # no database named: report every patient as new
        report = import_fhir(items, svc=None, actor=actor_of(actor), dry_run=True)
    else:
        with services(db) as svc:
            report = import_fhir(items, svc=svc, actor=actor_of(actor), dry_run=dry_run)
    if json_out:  # no timing: the same input gives the same JSON
        dump_json(report.model_dump(mode="json", exclude={"seconds"}))
    else:
        verb = "would import" if dry_run else "imported"
        common.out.print(
            f"read {report.resources} resources for {report.patients} patients: {verb} "
            f"{len(report.imported)}, added {report.facts_added} facts to "
            f"{len(report.updated)} enrolled ({len(report.unchanged)} unchanged), refused "
            f"{len({r.patient_id for r in report.refused})}, ignored {len(report.ignored)} "
            "resources",
            markup=False,
        )
        common.err.print(f"import took {report.seconds:.2f} s", markup=False)
    for r in report.refused:
        who = r.patient_id or "(no patient)"
        common.err.print(
            f"refused {who}: {r.resource} {r.path}: {r.reason} [{r.source}]", markup=False
        )
    if report.refused:
        raise typer.Exit(EXIT_INVALID)


@fhir_app.command("export")
@handle_errors
def export_command(
    patient_id: PatientArg,
    db: DbOpt = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Due items as of YYYY-MM-DD (today).")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Accepted for uniformity: the Bundle is JSON already.")
    ] = False,
) -> None:
    """Print a FHIR R4 Bundle for one enrolled patient (pseudonymous id only). The output is
    the same JSON with or without --json."""
    from engine.fhir.episode import export_patient

    day = parse_date(as_of, "--as-of")
    with services(db) as svc:
        _print_json(export_patient(svc, patient_id, as_of=day))


@fhir_app.command("plandefinition")
@handle_errors
def plandefinition_command(
    definition: Annotated[
        str, typer.Argument(help="Definition id or YAML path (default: the TRD pathway).")
    ] = "trd",
    json_out: Annotated[
        bool,
        typer.Option("--json", help="Accepted for uniformity: the PlanDefinition is JSON already."),
    ] = False,
) -> None:
    """Print the definition as a FHIR R4 PlanDefinition (states as actions, guards in words).
    The output is the same JSON with or without --json."""
    from engine.fhir.plandefinition import plan_definition
    from pathway.loader import load_definition, resolve

    _print_json(plan_definition(load_definition(resolve(definition))))


@fhir_app.command("audit")
@handle_errors
def audit_command(
    db: DbOpt = None,
    since: Annotated[
        str | None, typer.Option("--since", help="First day, YYYY-MM-DD (UTC).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Last day included, YYYY-MM-DD (UTC).")
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user or token.")] = None,
    patient: Annotated[str | None, typer.Option("--patient", help="Only this patient.")] = None,
    action: Annotated[str | None, typer.Option("--action", help="Only this action.")] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Accepted for uniformity: the output is NDJSON already.")
    ] = False,
) -> None:
    """Print the web app's access audit (who read, wrote or exported what) as FHIR R4
    AuditEvents, one per line (NDJSON), oldest first."""
    from engine.fhir.audit import audit_events, ndjson_line
    from engine.store.uow import sql_connection

    first, last = parse_window(since, until)
    with services(db) as svc, svc.uow as uow:
        conn = sql_connection(uow, "fhir audit")
        events = audit_events(
            conn, since=first, until=last, user=user, patient=patient, action=action
        )
        for event in events:
            sys.stdout.write(ndjson_line(event) + "\n")


def register(app: typer.Typer) -> None:
    """Add `pathway fhir …` to the app."""
    app.add_typer(fhir_app, name="fhir")
