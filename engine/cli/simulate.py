"""`pathway simulate`: a synthetic cohort through the pathway into a database."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer


def register(app: typer.Typer) -> None:
    """Add `pathway simulate --patients N --seed S [--db URL] [--end D] [--json]` to an app."""
    import typer as _typer

    from engine.cli import common
    from engine.cli.common import dump_json, handle_errors

    def simulate_command(
        patients: int = _typer.Option(2000, "--patients", min=1, help="How many patients."),
        seed: int = _typer.Option(0, "--seed", help="Random seed: same seed, same cohort."),
        db: str | None = _typer.Option(None, "--db", help="Database URL or SQLite file."),
        end: str | None = _typer.Option(None, "--end", help="Last simulated day (today)."),
        prefix: str = _typer.Option("SIM-", "--prefix", help="Patient ids: PREFIX000000…"),
        preset: str | None = _typer.Option(
            None,
            "--preset",
            help="star-d: STAR*D's conditions (no dropout, no pseudo-resistance, four "
            "medication levels, everyone finishes), to compare with its published figures.",
        ),
        json_out: bool = _typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Simulate a synthetic cohort through the pathway and persist it."""
        from engine.cli.patients import parse_date
        from engine.simulator.describe import describe, throughput
        from engine.simulator.persistence import simulate_to
        from pathway.errors import Issue, RecordError

        if preset not in (None, "star-d"):
            raise RecordError(
                [Issue(loc="--preset", value=preset, message="unknown preset; known: star-d")]
            )
        day = parse_date(end, "--end")
        report = simulate_to(
            db,
            patients=patients,
            seed=seed,
            end=day,
            prefix=prefix,
            progress=not json_out,
            preset=preset,
        )
        if json_out:  # no timing: the same seed and --end give the same JSON
            dump_json(report.model_dump(mode="json", exclude={"seconds"}))
        else:
            common.out.print(describe(report, preset=preset), markup=False)
            common.err.print(throughput(report), markup=False)

    app.command("simulate")(handle_errors(simulate_command))
