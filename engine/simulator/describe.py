"""The few lines printed about a simulation (by `pathway simulate` and the demo)."""

from __future__ import annotations

from collections.abc import Iterable

from engine.simulator.params import STAR_D_REMISSION
from engine.simulator.persistence import PersistReport


def throughput(report: PersistReport) -> str:
    """How long the simulation took: the run's own figure, so it goes to standard error."""
    return f"in {report.seconds:.1f} s ({report.events_per_second:,.0f} events/s)"


def describe(report: PersistReport, *, preset: str | None = None) -> str:
    """A few lines about a simulation: patients, events, states, remission per step and
    cumulative next to STAR*D's, and why a clinic's figures differ from STAR*D's. The same seed
    and end give the same lines (the time taken is `throughput`'s)."""
    lines = [f"simulated and wrote {report.patients} patients, {report.events} events"]
    s = report.summary
    if s is None:
        return "\n".join(lines)
    ranked = sorted(s.by_state.items(), key=lambda kv: -kv[1])
    lines.append(f"now in: {', '.join(f'{k} {v}' for k, v in ranked)}")
    lines.append("remission       step 1   step 2   step 3   step 4   cumulative")
    sim = [*s.step_remission[:4], s.cumulative_remission[3]]
    ref = [*STAR_D_REMISSION, 1 - _product(1 - r for r in STAR_D_REMISSION)]
    lines.append("  simulated    " + "".join(f"{v:>8.1%} " for v in sim))
    lines.append("  STAR*D       " + "".join(f"{v:>8.1%} " for v in ref))
    lines.append("  (entered     " + "".join(f"{n:>8,} " for n in s.entered_step[:4]) + "patients)")
    if preset is None:
        n = s.patients or 1
        dropout = s.ended.get("dropout", 0)
        going = s.in_progress
        lines.append(
            "lower than STAR*D because this is a clinic, not STAR*D's conditions: "
            f"{dropout} dropped out ({dropout / n:.0%}), {s.pseudo_resistance} had "
            f"pseudo-resistance ({s.pseudo_resistance / n:.0%}: an incomplete first trial, "
            f"bipolar features, a medical contributor, substance use or a stressor), and "
            f"{going} have not remitted yet and are still in progress at the horizon "
            f"({going / n:.0%}); "
            "`--preset star-d` runs STAR*D's conditions"
        )
    return "\n".join(lines)


def _product(values: Iterable[float]) -> float:
    out = 1.0
    for v in values:
        out *= v
    return out
