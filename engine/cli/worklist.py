"""`pathway worklist`: the worklist as a rich table or JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer
    from rich.console import Console

    from engine.queries.worklist import Worklist

# The item kinds, most urgent first, for `--kind`'s help: `pathway.due.PRIORITY` (a test checks
# they agree) without importing pathway before a command runs.
KINDS = (
    "urgent_risk",
    "decision_needed",
    "evaluation_due",
    "decision_pending",
    "not_improving",
    "measurement_overdue",
    "maintenance_followup",
)

# The library's filter names (in InvalidFilter's issues) as this command's options.
OPTIONS = {
    "state": "--state",
    "kinds": "--kind",
    "limit": "--limit",
    "offset": "--offset",
    "as_of": "--as-of",
}


def render(result: Worklist, console: Console, *, width: int = 70) -> None:
    """The worklist as a table (no patient-identifying data: ids are pseudonymous)."""
    from rich.table import Table

    from pathway.due import LABELS

    total = sum(result.counts.values()) or len(result.items)
    kinds = ", ".join(f"{LABELS[k].split(':')[0]} {n}" for k, n in result.counts.items())
    shown = f"the first {len(result.items)} of " if len(result.items) < total else ""
    table = Table(
        title=f"Worklist as of {result.as_of.isoformat()}: {shown}{total} items for "
        f"{result.patients_with_items} patients ({kinds or 'nothing due'})",
        title_justify="left",
    )
    for name in ("patient", "state", "item", "due", "overdue", "why"):
        table.add_column(name, overflow="fold", max_width=width if name == "why" else None)
    for it in result.items:
        table.add_row(
            it.patient, it.state, it.label, it.due_on.isoformat(), f"{it.overdue_days} d", it.why
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add `pathway worklist [--as-of D] [--state S] [--limit N] [--json] [--db URL]`."""
    import typer as _typer

    from engine.cli.common import handle_errors, show

    def worklist_command(
        as_of: str | None = _typer.Option(None, "--as-of", help="Date YYYY-MM-DD (today)."),
        state: str | None = _typer.Option(None, "--state", help="Only patients in this state."),
        kind: list[str] | None = _typer.Option(
            None, "--kind", help=f"Only items of this kind (repeatable): {', '.join(KINDS)}."
        ),
        limit: int | None = _typer.Option(
            None, "--limit", help="Show the first N items (N ≥ 1; default: every item)."
        ),
        offset: int = _typer.Option(0, "--offset", min=0, help="Skip the first N items."),
        db: str | None = _typer.Option(None, "--db", help="Database URL or SQLite file."),
        json_out: bool = _typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """What is due, most urgent first: one row per item with patient, state, due date, why."""
        from engine.cli.patients import parse_date, services
        from engine.queries.filters import InvalidFilter
        from engine.queries.worklist import worklist

        with services(db) as svc:
            try:
                result = worklist(
                    svc,
                    as_of=parse_date(as_of, "--as-of"),
                    state=state,
                    kinds=_kinds(kind),
                    limit=limit,
                    offset=offset,
                )
            except InvalidFilter as exc:  # named as the options are
                raise exc.renamed(OPTIONS) from None
        show(result, json_out=json_out, render=render)

    app.command("worklist")(handle_errors(worklist_command))


def _kinds(given: list[str] | None) -> list[str] | None:
    """--kind values, each an item kind (RecordError naming the bad one otherwise)."""
    from pathway.errors import Issue, RecordError
    from pathway.yamlio import did_you_mean

    bad = [k for k in given or [] if k not in KINDS]
    if bad:
        raise RecordError(
            [
                Issue(
                    loc="--kind",
                    value=k,
                    message=f"unknown item kind{did_you_mean(k, list(KINDS))}; "
                    f"known: {', '.join(KINDS)}",
                )
                for k in bad
            ]
        )
    return given or None
