"""`pathway board`: the board as a rich table or JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer
    from rich.console import Console

    from engine.queries.board import Board

# The library's filter names (in InvalidFilter's issues) as this command's options.
OPTIONS = {
    "state": "--state",
    "definition_id": "--definition",
    "definition_version": "--version",
    "as_of": "--as-of",
}


def render(result: Board, console: Console) -> None:
    """The board as a table."""
    from rich.table import Table

    scope = " ".join(
        x
        for x in (
            result.definition_id,
            result.definition_version,
            f"state {result.state}" if result.state else None,
        )
        if x
    )
    title = f"Board as of {result.as_of.isoformat()}{' — ' + scope if scope else ''}"
    day = result.as_of.isoformat()
    caption = (
        f"days: since each patient now in the state entered it, counted to {day} (not the "
        f"cohort diagram's days per patient over all visits); due: an item due by {day}"
    )
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for name in ("state", "kind", "patients", "median days", "p90 days", "with a due item"):
        table.add_column(  # folded on a narrow terminal, never cut: "349…" reads as 349
            name, justify="left" if name in ("state", "kind") else "right", overflow="fold"
        )
    for r in result.rows:
        med = "—" if r.median_days is None else f"{r.median_days:g}"
        p90 = "—" if r.p90_days is None else f"{r.p90_days:g}"
        table.add_row(
            r.label or r.state, r.kind or "", str(r.patients), med, p90, str(r.with_due_item)
        )
    table.add_row("total", "", str(result.patients), "", "", str(result.with_due_item))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add `pathway board [--state S] [--version V] [--as-of D] [--json] [--db URL]`."""
    import typer as _typer

    from engine.cli.common import handle_errors, show

    def board_command(
        state: str | None = _typer.Option(
            None, "--state", help="Only this state (one a stored definition version has)."
        ),
        version: str | None = _typer.Option(
            None, "--version", help="Definition version (`pathway definitions` lists them)."
        ),
        definition_id: str | None = _typer.Option(None, "--definition", help="Definition id."),
        as_of: str | None = _typer.Option(None, "--as-of", help="Date YYYY-MM-DD (today)."),
        db: str | None = _typer.Option(None, "--db", help="Database URL or SQLite file."),
        json_out: bool = _typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Patients per state, days in state (median, 90th percentile), how many have a due item."""
        from engine.cli.patients import parse_date, services
        from engine.queries.board import board
        from engine.queries.filters import InvalidFilter

        with services(db) as svc:
            try:
                result = board(
                    svc,
                    as_of=parse_date(as_of, "--as-of"),
                    state=state,
                    definition_id=definition_id,
                    definition_version=version,
                )
            except InvalidFilter as exc:  # named as the options are
                raise exc.renamed(OPTIONS) from None
        show(result, json_out=json_out, render=render)

    app.command("board")(handle_errors(board_command))
