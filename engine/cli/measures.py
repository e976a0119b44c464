"""`pathway measure` and `pathway deviations`: quality measures and deviation reports."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Literal

import typer

from engine.cli import common
from engine.cli.common import handle_errors
from engine.cli.patients import DbOpt, JsonOpt, parse_window


def _print(value: object) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


@handle_errors
def measure(
    measure_id: Annotated[
        str, typer.Argument(metavar="ID", help="CMS159, CMS128, NQF1884, DRR-E.")
    ],
    period: Annotated[str, typer.Option("--period", help="START:END, YYYY-MM-DD:YYYY-MM-DD.")],
    fhir: Annotated[
        list[str] | None, typer.Option("--fhir", help="FHIR Bundle / NDJSON / folder (repeat).")
    ] = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
    measurereport: Annotated[
        Literal["individual", "summary"] | None,
        typer.Option("--measurereport", help="Print a FHIR MeasureReport (individual|summary)."),
    ] = None,
    csv_out: Annotated[bool, typer.Option("--csv", help="One row per patient per group.")] = False,
) -> None:
    """Run a depression quality measure over FHIR files or the engine's database."""
    from engine.measures.report import check_measure, evaluate, measure_reports, parse_period
    from engine.measures.sources import from_db, from_fhir
    from pathway.errors import Issue, RecordError

    mid, span = check_measure(measure_id), parse_period(period)
    if fhir and db:
        raise RecordError([Issue(loc="--fhir/--db", message="give one source, not both")])
    patients = from_fhir(fhir) if fhir else from_db(db, medications=mid == "CMS128")
    result = evaluate(mid, patients=patients, period=span)
    if measurereport:
        _print(measure_reports(result, kind=measurereport))
    elif csv_out:
        from engine.measures.report import to_csv

        sys.stdout.write(to_csv(result))
    elif json_out:
        _print(result)
    else:
        from engine.measures.deviations import score_text

        common.out.print(f"{mid} {span.start} – {span.end}", markup=False)
        for g in result["groups"]:
            counts = ", ".join(f"{k} {v}" for k, v in g["populations"].items())
            common.out.print(f"  {g['id']}: {counts}; score {score_text(g['score'])}", markup=False)


@handle_errors
def deviations(
    since: Annotated[str | None, typer.Option("--since", help="From YYYY-MM-DD.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Until YYYY-MM-DD.")] = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Overrides, moves against the recommendation, and overstays, per definition version."""
    from engine.measures.deviations import deviation_report, render

    first, last = parse_window(since, until)
    report = deviation_report(db, since=first, until=last)
    if json_out:
        _print(report)
    else:
        render(report, common.out)


def register(app: typer.Typer) -> None:
    """Add `pathway measure` and `pathway deviations`."""
    app.command("measure")(measure)
    app.command("deviations")(deviations)
