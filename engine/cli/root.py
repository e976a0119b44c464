"""The `pathway` app: validate, schema and assess here; every other command group registered
from its module in `engine/cli/`; `main`, the console entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from engine.cli import (
    board,
    common,
    definitions,
    demo,
    diagrams,
    fhir,
    measures,
    patients,
    simulate,
    web,
    worklist,
)
from engine.cli.common import EXIT_INVALID, dump_json, handle_errors, show
from engine.cli.patients import parse_date

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain (click) help and usage errors: typer's rich help loads rich's markdown and syntax
    # modules and lays out every command in panels, which alone takes three times as long as
    # importing typer and rich (benchmarks/startup.py, benchmarks/README.md).
    rich_markup_mode=None,
    help="Declarative clinical pathway engine for treatment-resistant depression.",
)

DefinitionOpt = Annotated[
    str, typer.Option("--definition", "-d", help="Definition id (e.g. trd) or YAML path.")
]


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
    from pathway.errors import DefinitionError
    from pathway.loader import load_definition, resolve

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
    common.out.print(
        f"{path.name}: valid — {d.metadata.id} {d.metadata.version}, {len(d.states)} states,"
        f" {len(d.edges)} edges",
        markup=False,
    )
    if strict:
        common.out.print(f"{len(unverified)} value(s) marked verified: false:", markup=False)
        for u in unverified:
            common.out.print(f"  {u['where']}: {u['value']} — {u['source']}", markup=False)


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
    from pathway.schemas import schema_for

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
    from engine.cli.report import render_assessment
    from pathway.assess import assess as assess_record

    day = parse_date(as_of, "--as-of")
    result = assess_record(Path(record) if record != "-" else "-", definition=definition, as_of=day)
    show(result, json_out=json_out, render=render_assessment)


patients.register(app)
for _module in (worklist, board, simulate, demo, diagrams, definitions, fhir, measures, web):
    _module.register(app)


def main() -> None:
    """Console-script entry point."""
    common.utf8_streams()
    try:
        app()
    except SystemExit as exc:
        raise SystemExit(exc.code) from None


__all__ = ["app", "main"]
