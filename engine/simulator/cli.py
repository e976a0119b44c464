"""The `pathway simulate` command, and the few lines it prints about a simulation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.simulator.persistence import PersistReport, simulate_to

if TYPE_CHECKING:
    import typer


def describe(report: PersistReport) -> str:
    """A few lines about a simulation: patients, events, throughput, states, remission."""
    lines = [
        f"simulated and wrote {report.patients} patients, {report.events} events, in "
        f"{report.seconds:.1f} s ({report.events_per_second:,.0f} events/s)"
    ]
    s = report.summary
    if s is not None:
        ranked = sorted(s.by_state.items(), key=lambda kv: -kv[1])
        cum = " → ".join(f"{c:.0%}" for c in s.cumulative_remission[:4])
        lines += [
            f"now in: {', '.join(f'{k} {v}' for k, v in ranked)}",
            f"cumulative remission after steps 1–4: {cum}",
        ]
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add `pathway simulate --patients N --seed S [--db URL] [--end D] [--json]` to an app."""
    import typer as _typer

    from engine.cli_common import dump_json, handle_errors, out

    def simulate_command(
        patients: int = _typer.Option(2000, "--patients", min=1, help="How many patients."),
        seed: int = _typer.Option(0, "--seed", help="Random seed: same seed, same cohort."),
        db: str | None = _typer.Option(None, "--db", help="Database URL or SQLite file."),
        end: str | None = _typer.Option(None, "--end", help="Last simulated day (today)."),
        prefix: str = _typer.Option("SIM-", "--prefix", help="Patient ids: PREFIX000000…"),
        json_out: bool = _typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Simulate a synthetic cohort through the pathway and persist it."""
        from engine.cli_engine import parse_date

        day = parse_date(end, "--end")
        report = simulate_to(
            db, patients=patients, seed=seed, end=day, prefix=prefix, progress=not json_out
        )
        if json_out:
            dump_json(
                {
                    **report.model_dump(mode="json"),
                    "events_per_second": round(report.events_per_second),
                }
            )
        else:
            out.print(describe(report), markup=False)

    app.command("simulate")(handle_errors(simulate_command))
