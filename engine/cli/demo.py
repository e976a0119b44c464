"""`pathway demo`: a fresh database, a simulated cohort, the board, the worklist, a history
(the job itself is `engine.cli.demo_run`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer


def register(app: typer.Typer) -> None:
    """Add `pathway demo [--out DIR] [--patients N] [--seed S] [--end D] [--db URL]` to an
    app."""
    import typer as _typer

    from engine.cli.common import handle_errors

    def demo_command(
        out_dir: str = _typer.Option("out", "--out", help="Folder for the demo database."),
        patients: int = _typer.Option(2000, "--patients", min=1, help="How many patients."),
        seed: int | None = _typer.Option(
            None, "--seed", help="Random seed (default: the demo's own, 20261126)."
        ),
        end: str | None = _typer.Option(
            None, "--end", help="The demo's day: it runs as on that day (default today)."
        ),
        db: str | None = _typer.Option(
            None, "--db", help="Database URL (default: a fresh SQLite file in --out)."
        ),
    ) -> None:
        """The demo: a fresh database, a simulated cohort, the board, the worklist, a history."""
        from engine.cli.demo_run import DEMO_SEED, run_demo
        from engine.cli.patients import parse_date

        day = parse_date(end, "--end")
        run_demo(db, out_dir, patients=patients, seed=DEMO_SEED if seed is None else seed, end=day)

    app.command("demo")(handle_errors(demo_command))
