"""`pathway render` and `pathway diff-defs`: diagrams of a definition, with engine overlays.

Without `--patient` or `--cohort` no database is touched: `pathway render definitions/trd.yaml
-o trd.svg` needs the YAML alone. The overlays read the database chosen like every engine
command (`--db`, else $PATHWAY_DATABASE_URL, else ./pathway.db). Errors print one message on
stderr and exit 2 (a missing Graphviz `dot` for svg, png or pdf included: checked before any
database work).
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from engine.cli import common
from engine.cli.common import handle_errors
from engine.cli.patients import DbOpt, parse_date

if TYPE_CHECKING:
    from engine.services import Services
    from pathway.definition import Definition
    from viz.overlays import CohortSummary, PatientPath

STDOUT = "-"
OutputOpt = Annotated[
    str,
    typer.Option(
        "--output", "-o", help="File to write; the format follows its suffix. '-' for stdout."
    ),
]
FormatOpt = Annotated[
    str | None,
    typer.Option("--format", "-f", help="dot, svg, png, pdf, mermaid or json (default: suffix)."),
]


def register(app: typer.Typer) -> None:
    """Add `render` and `diff-defs` to the `pathway` app."""
    app.command("render")(handle_errors(render))
    app.command("diff-defs")(handle_errors(diff_defs))


def output_format(fmt: str | None, output: str) -> str:
    """--format, else the output file's suffix (UnknownFormat when neither names a format)."""
    from viz import FORMATS, UnknownFormat
    from viz.render import SUFFIXES

    chosen = fmt or (SUFFIXES.get(Path(output).suffix.lower()) if output != STDOUT else None)
    if chosen is None:
        what = Path(output).suffix or output
        raise UnknownFormat(f"{what} (name one with --format)", FORMATS)
    if chosen not in FORMATS:
        raise UnknownFormat(chosen, FORMATS)
    return chosen


def need_graphviz(fmt: str) -> None:
    """Fail before any work when the format needs the Graphviz `dot` program and it is absent."""
    from viz import GraphvizNotInstalled
    from viz.graphviz_run import IMAGE_FORMATS

    if fmt in IMAGE_FORMATS and shutil.which("dot") is None:
        raise GraphvizNotInstalled(fmt)


def write_output(data: bytes | str, output: str) -> None:
    """Write rendered data to a file (creating its folder) or to stdout."""
    if output == STDOUT:
        if isinstance(data, str):
            sys.stdout.write(data)
        else:
            sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)


def check_options(
    *,
    patient: str | None,
    cohort: bool,
    filters: dict[str, object],
    as_of: str | None,
    suppression: dict[str, object],
) -> None:
    """Refuse overlay options that would be silently ignored."""
    from engine.errors import RenderOptionError

    if patient is not None and cohort:
        raise RenderOptionError("draw one overlay at a time: --patient or --cohort, not both")
    given = [name for name, value in filters.items() if value not in (None, False)]
    if given and not cohort:
        raise RenderOptionError(f"{', '.join(given)} choose a cohort: add --cohort")
    given = [name for name, value in suppression.items() if value not in (None, False)]
    if given and not cohort:
        raise RenderOptionError(f"{', '.join(given)} apply to the cohort overlay: add --cohort")
    if as_of is not None and patient is None and not cohort:
        raise RenderOptionError("--as-of dates an overlay: add --patient or --cohort")


def render(
    output: OutputOpt,
    definition: Annotated[
        str | None,
        typer.Argument(
            help="Definition YAML or shipped id (default: trd; with --patient, the patient's own)."
        ),
    ] = None,
    patient: Annotated[
        str | None, typer.Option("--patient", help="Overlay one patient's path.")
    ] = None,
    cohort: Annotated[
        bool, typer.Option("--cohort", help="Overlay the cohort's counts (see the filters).")
    ] = False,
    state: Annotated[
        str | None,
        typer.Option("--state", help="Cohort: only patients in this state at the window's end."),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option("--version", help="Cohort: only patients pinned to this definition version."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Cohort: count moves effective from this date (YYYY-MM-DD); medians are then "
            "those of the stays that ended in the window.",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="Cohort: count moves effective up to this date."),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Overlay as it stood at the end of this date (today)."),
    ] = None,
    fmt: FormatOpt = None,
    no_guards: Annotated[
        bool, typer.Option("--no-guards", help="Label edges with their trigger only.")
    ] = False,
    no_suppress: Annotated[
        bool, typer.Option("--no-suppress", help="Cohort: print small counts too.")
    ] = False,
    threshold: Annotated[
        int | None,
        typer.Option(
            "--threshold",
            min=2,  # "≤1" next to printed zeros would say 1: nothing hidden
            help="Cohort: hide counts from 1 to N, N at least 2 (default 10).",
        ),
    ] = None,
    db: DbOpt = None,
) -> None:
    """Draw a definition, optionally with one patient's path or a cohort's counts on it."""
    import viz

    check_options(
        patient=patient,
        cohort=cohort,
        filters={"--state": state, "--version": version, "--since": since, "--until": until},
        as_of=as_of,
        suppression={"--threshold": threshold, "--no-suppress": no_suppress},
    )
    fmt = output_format(fmt, output)
    need_graphviz(fmt)
    day = parse_date(as_of, "--as-of")
    first, last = parse_date(since, "--since"), parse_date(until, "--until")
    drawn: Definition | str = definition or "trd"
    path: PatientPath | None = None
    summary: CohortSummary | None = None
    if patient is not None or cohort:
        from engine.cli.patients import services
        from engine.queries.overlays import cohort_overlay

        with services(db) as svc:
            not_after_today(day, svc.clock.today())
            if patient is not None:
                drawn, path = _patient_overlay(svc, patient, definition, day)
            else:
                drawn, summary = cohort_overlay(
                    svc,
                    definition,
                    state=state,
                    version=version,
                    as_of=day,
                    since=first,
                    until=last,
                )
    data = viz.render(
        drawn,
        fmt=fmt,
        patient=path,
        cohort=summary,
        no_guards=no_guards,
        suppress=not no_suppress,
        threshold=threshold or 10,
    )
    write_output(data, output)
    if output != STDOUT:
        common.out.print(f"wrote {output} ({fmt})", markup=False)


def not_after_today(as_of: dt.date | None, today: dt.date) -> None:
    """Refuse an --as-of after today (RecordError naming it): an overlay counts what has
    happened, and the days in each current state would be counted on to that date."""
    if as_of is not None and as_of > today:
        from pathway.errors import Issue, RecordError

        raise RecordError(
            [
                Issue(
                    loc="--as-of",
                    value=as_of.isoformat(),
                    message=f"is after today ({today.isoformat()}): an overlay shows what has "
                    "happened, as of today or an earlier day",
                )
            ]
        )


def _patient_overlay(
    svc: Services, patient_id: str, definition: str | None, as_of: dt.date | None
) -> tuple[Definition, PatientPath]:
    """The patient's path, and the definition to draw it on (by default the one they are on)."""
    from engine.queries.overlays import patient_path
    from pathway.errors import UnknownPatient

    path = patient_path(svc, patient_id, as_of=as_of)
    if definition is not None:
        return svc.definitions.load(definition), path
    with svc.uow as uow:
        head = uow.patients.get(patient_id)
    if head is None:  # deleted in between: not possible with an append-only log, but be clear
        raise UnknownPatient(patient_id)
    return svc.definitions.get(head.definition_id, head.definition_version), path


def diff_defs(
    old: Annotated[str, typer.Argument(help="The old definition (YAML or shipped id).")],
    new: Annotated[str, typer.Argument(help="The new definition (YAML or shipped id).")],
    fmt: FormatOpt = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Write the marked diagram here ('-' for stdout)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the changes as JSON.")] = False,
) -> None:
    """Compare two definitions: added, removed and changed states, transitions and guards."""
    import viz
    from engine.errors import RenderOptionError

    if output is None and fmt is not None:
        raise RenderOptionError("--format is the diagram's format: add -o FILE")
    if json_out and output == STDOUT:
        raise RenderOptionError("--json and -o - would both write to stdout: pick one")
    chosen = output_format(fmt, output) if output is not None else None
    if chosen is not None:
        need_graphviz(chosen)
    changes = viz.diff(old, new)
    if output is not None and chosen is not None:
        write_output(viz.render_diagram(changes.diagram, fmt=chosen), output)
    if json_out:
        sys.stdout.write(changes.to_json())
        return
    if output == STDOUT:
        return
    summary = changes.diagram.subtitle
    common.out.print(f"{changes.old} → {changes.new}: {summary}", markup=False)
    for c in changes.changes:
        fields = "; ".join(f"{k}: {a!r} → {b!r}" for k, (a, b) in c.fields.items())
        common.out.print(
            f"  {c.change} {c.item} {c.id}{' (' + fields + ')' if fields else ''}", markup=False
        )
    if output is not None:
        common.out.print(f"wrote {output} ({chosen})", markup=False)


__all__ = ["register"]
