"""The `pathway` command: validate, schema, assess (and the engine's services)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from engine import board, cli_definitions, cli_viz, demo, simulator, worklist
from engine.cli_common import EXIT_INVALID, dump_json, err, handle_errors, out
from engine.cli_engine import register as register_engine_commands
from engine.fhir import cli as fhir_cli
from engine.measures import cli as measures_cli
from engine.web import cli as web_cli
from pathway.assess import assess as assess_record
from pathway.errors import DefinitionError, RecordError
from pathway.loader import load_definition, resolve
from pathway.schemas import schema_for

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Declarative clinical pathway engine for treatment-resistant depression.",
)

DefinitionOpt = Annotated[
    str, typer.Option("--definition", "-d", help="Definition id (e.g. trd) or YAML path.")
]


def _date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        from pathway.errors import Issue

        raise RecordError(
            [Issue(loc="--as-of", value=value, message="expected a date YYYY-MM-DD")]
        ) from None


@app.command()
@handle_errors
def validate(
    file: Annotated[
        str, typer.Argument(help="Definition YAML (default: the TRD pathway).")
    ] = "trd",
    strict: Annotated[bool, typer.Option(help="Also list values marked verified: false.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check a definition: schema, graph, predicates, parameters. Exit 2 on problems."""
    path = resolve(file)
    try:
        d = load_definition(path)
    except DefinitionError as exc:
        if json_out:
            dump_json(
                {
                    "valid": False,
                    "file": str(path),
                    "issues": [i.model_dump(mode="json") for i in exc.issues],
                }
            )
            raise typer.Exit(EXIT_INVALID) from None
        raise
    unverified = _unverified(d) if strict else []
    if json_out:
        dump_json(
            {
                "valid": True,
                "file": str(path),
                "id": d.metadata.id,
                "version": d.metadata.version,
                "states": len(d.states),
                "transitions": len(d.edges),
                "unverified": unverified,
            }
        )
        return
    out.print(
        f"{path.name}: valid — {d.metadata.id} {d.metadata.version}, {len(d.states)} states,"
        f" {len(d.edges)} edges",
        markup=False,
    )
    if strict:
        out.print(f"{len(unverified)} value(s) marked verified: false:", markup=False)
        for u in unverified:
            out.print(f"  {u['where']}: {u['value']} — {u['source']}", markup=False)


def _unverified(d: object) -> list[dict[str, object]]:
    from pathway.definition import Definition

    assert isinstance(d, Definition)
    rows: list[dict[str, object]] = [
        {
            "where": f"parameters.{name}",
            "value": p.value if not hasattr(p.value, "model_dump") else p.value.model_dump(),
            "source": p.source,
        }
        for name, p in d.parameters.unverified()
    ]
    for drug in d.catalog.drugs:
        if not drug.verified:
            rows.append(
                {
                    "where": f"drugs.{drug.name}",
                    "value": drug.min_adequate_mg,
                    "source": drug.source,
                }
            )
        if drug.max_daily_mg is not None and not drug.max_daily_mg.verified:
            rows.append(
                {
                    "where": f"drugs.{drug.name}.max_daily_mg",
                    "value": drug.max_daily_mg.mg,
                    "source": drug.max_daily_mg.basis,
                }
            )
        if drug.augmentation and not drug.augmentation.verified:
            rows.append(
                {
                    "where": f"drugs.{drug.name}.augmentation",
                    "value": drug.augmentation.min_mg,
                    "source": drug.augmentation.source,
                }
            )
    for inst in d.catalog.instruments:
        if not inst.verified:
            rows.append(
                {
                    "where": f"instruments.{inst.name}",
                    "value": list(inst.range),
                    "source": inst.source,
                }
            )
        if inst.bands and not inst.severity_verified:
            rows.append(
                {
                    "where": f"instruments.{inst.name}.bands.severity",
                    "value": {f"{b.min}-{b.max}": b.severity for b in inst.bands},
                    "source": inst.severity_source,
                }
            )
    return rows


@app.command()
@handle_errors
def schema(
    what: Annotated[Literal["definition", "patient"], typer.Argument(help="definition or patient")],
) -> None:
    """Print the JSON Schema of a definition or of a patient record."""
    print(json.dumps(schema_for(what), indent=2, ensure_ascii=False))


@app.command()
@handle_errors
def assess(
    record: Annotated[str, typer.Argument(help="Patient record (JSON or YAML; - for stdin).")],
    definition: DefinitionOpt = "trd",
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Date YYYY-MM-DD (default today).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the JSON object.")] = False,
) -> None:
    """Evaluate one patient record against the pathway; writes nothing."""
    result = assess_record(
        Path(record) if record != "-" else "-", definition=definition, as_of=_date(as_of)
    )
    if json_out:
        dump_json(result)
    else:
        from engine.report import render_assessment

        render_assessment(result, out)


register_engine_commands(app)
for _module in (worklist, board, simulator, demo, cli_viz, cli_definitions, fhir_cli, measures_cli):
    _module.register(app)
web_cli.register(app)  # serve, user, token, audit


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except SystemExit as exc:
        raise SystemExit(exc.code) from None


__all__ = ["app", "err", "main"]
