"""Readable (rich) rendering of an assessment for the terminal."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from engine.cli.render import MARK, reason_lines
from pathway.assess import Assessment
from pathway.words import OUTCOME_WORDS, STATUS_WORDS, STOP_REASON_WORDS, inadequacy, words


def render_assessment(a: Assessment, console: Console) -> None:
    """Print an assessment: trials, facts, the guards with their reasons, the recommendation."""
    head = (
        f"[bold]{a.patient_id}[/] as of {a.as_of.isoformat()} — "
        f"definition {a.definition.id} {a.definition.version}"
    )
    # soft_wrap=False: a panel's lines wrap at the terminal's width instead of being cut off
    console.print(Panel(head, expand=False), soft_wrap=False)
    console.print("[bold]Trials[/]" if a.trials else "No trials on record.")
    for t in a.trials:
        basis = t.outcome_basis or {}
        outcome = words(t.outcome, OUTCOME_WORDS)
        if "instrument" in basis:
            outcome += f" ({basis['instrument']} {basis['baseline']}→{basis['end']})"
        elif "stop_reason" in basis:
            outcome += f" (stopped for {words(basis['stop_reason'], STOP_REASON_WORDS)})"
        minimum = "-" if t.min_adequate_dose_mg is None else f"{t.min_adequate_dose_mg:g}"
        if t.serum_level is not None and t.min_serum_mmol_l is not None:  # judged by its level
            minimum = f"{t.min_serum_mmol_l:g} mmol/L; level {t.serum_level:g} mmol/L"
        why = f": {'; '.join(inadequacy(t.reasons))}" if t.reasons else ""
        due = t.evaluation_due_on.isoformat() if t.evaluation_due_on else "-"
        adherence = "unknown" if t.adherence is None else f"{t.adherence:.0%}"
        console.print(
            f"  #{t.index} [bold]{t.drug}[/] ({t.drug_class}, {t.role}): "
            f"[bold]{words(t.status, STATUS_WORDS)}[/]{why}\n"
            f"     max {t.max_dose_mg:g} mg/day (effective ≥{minimum}); "
            f"{t.weeks_on_drug:.1f} weeks on drug, {t.weeks_at_adequate_dose:.1f} at effective "
            f"dose; adherence {adherence}; "
            f"evaluation due {due}; outcome {outcome}"
        )
    if a.procedures:
        console.print("[bold]Procedure courses[/]")
    for p in a.procedures:
        basis = p.outcome_basis or {}
        outcome = words(p.outcome, OUTCOME_WORDS)
        if "instrument" in basis:
            outcome += f" ({basis['instrument']} {basis['baseline']}→{basis['end']})"
        ended = f"ended {p.end.isoformat()}" if p.end else "ongoing"
        console.print(
            f"  #{p.index} [bold]{p.kind}[/] from {p.start.isoformat()}, {p.sessions} sessions, "
            f"{ended}; outcome {outcome}"
        )
    step_name = _step_name(a)
    maud = a.staging.maudsley
    facts = [
        f"failed adequate trials: [bold]{a.failed_adequate_trials}[/]"
        f" ({', '.join(a.failed_classes) or 'none'})",
        f"treatment-resistant: [bold]{'yes' if a.treatment_resistant else 'no'}[/]",
        f"flags: [bold]{', '.join(a.flags) or 'none'}[/]",
        f"bipolar confirmed: {'yes' if a.bipolar_confirmed else 'no'}; "
        f"life-threatening: {'[bold red]yes[/]' if a.life_threatening else 'no'}",
        f"current step: {step_name}; outcome: "
        f"{words(a.current_outcome, OUTCOME_WORDS) if a.current_outcome else '-'}",
        f"staging: Maudsley {maud.score if maud.score is not None else '?'}"
        f" ({maud.band or 'unknown'}), Thase–Rush {a.staging.thase_rush or '-'}",
    ]
    console.print(
        Panel(
            Group(*[Text.from_markup(f) for f in facts]),
            title="Facts",
            title_align="left",
            expand=False,
        ),
        soft_wrap=False,
    )
    for w in a.warnings:
        console.print(f"[yellow]warning:[/] {w}", markup=True, highlight=False)
    guards = Table(title="Options from reassess", title_justify="left", show_lines=True)
    for name in ("trigger → state", "guard", "because"):  # folded, never cut to "…"
        guards.add_column(name, overflow="fold")
    for g in a.guards:
        guards.add_row(f"{g.trigger} → {g.to}", MARK[g.result], reason_lines(g.reasons))
    console.print(guards)
    rec = a.recommended
    console.print(f"Recommended next step: [bold]{rec}[/]" if rec else "No transition is enabled.")
    console.print(
        "[dim]Decision support only: the clinician decides; any enabled step or a "
        "reasoned override may be taken.[/]"
    )


def _step_name(a: Assessment) -> str:
    """The current step in words: the trial's drug or the procedure's kind."""
    step = a.current_step
    if step is None:
        return "no trial or procedure"
    if step.kind == "procedure":
        return f"the {next(p.kind for p in a.procedures if p.index == step.index)} course"
    return f"the {next(t.drug for t in a.trials if t.index == step.index)} trial"
