"""Readable (rich) rendering of a patient's status and history for the terminal."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engine.views import PatientHistory, PatientStatus
from pathway.errors import printable
from pathway.results import PredicateResult
from pathway.words import asked as asked_words

MARK = {"true": "[green]✔ true[/]", "false": "[red]✘ false[/]", "unknown": "[yellow]? unknown[/]"}


def reason_lines(reasons: Sequence[PredicateResult]) -> str:
    """A guard's reasons, one line each, with what each test asked for when that is a list of
    categories (the same outcome is false for `remission` and true for `none`), each distinct
    line once (a guard may test the same thing in two branches)."""
    lines: list[str] = []
    for r in reasons:
        asked = ""
        if isinstance(r.threshold, list) and all(isinstance(t, str) for t in r.threshold):
            asked = f" (asked: {', '.join(asked_words(r.predicate, r.threshold))})"
        line = f"{MARK[r.result]} {r.predicate}{escape(asked)}: {escape(r.detail)}"
        if line not in lines:
            lines.append(line)
    return "\n".join(lines)


def render_status(s: PatientStatus, console: Console) -> None:
    """State, days in state, guards with reasons, recommendation, due items."""
    console.print(
        f"[bold]{s.patient_id}[/] in [bold]{s.state_label}[/] ({s.state}, {s.state_kind}) for "
        f"{s.days_in_state} days since {s.entered_state_on} — {s.definition.id} "
        f"{s.definition.version}, version {s.version}, as of {s.as_of}"
    )
    if s.guards:
        table = Table(title="Transitions from here", title_justify="left", show_lines=True)
        for name in ("trigger → state", "guard", "because"):  # folded, never cut to "…"
            table.add_column(name, overflow="fold")
        for g in s.guards:
            table.add_row(f"{g.trigger} → {g.to}", MARK[g.result], reason_lines(g.reasons))
        console.print(table)
    else:
        console.print("No transitions leave this state.")
    rec = s.recommended
    console.print(f"Recommended: [bold]{rec}[/]" if rec else "No transition is enabled.")
    if s.due:
        console.print("[bold]Due[/]")
        for d in s.due:
            console.print(
                f"  {d.get('due_on')} {d.get('label', d.get('item'))}: {d.get('why')}", markup=False
            )
    else:
        console.print("Nothing due.")


def render_history(h: PatientHistory, console: Console) -> None:
    """The timeline, one line per event by effective date, with the reasons of every move."""
    console.print(
        f"[bold]{h.patient_id}[/] — {h.definition.id} {h.definition.version}, now in "
        f"[bold]{h.state}[/] (version {h.version})"
    )
    for e in h.entries:
        what = escape(printable(e.summary))  # one line each: a note cannot forge another
        if e.kind in ("transition", "override"):
            what = f"[bold]{what}[/]"
        recorded = e.recorded_at.strftime("%Y-%m-%d %H:%M UTC")
        who = escape(printable(e.actor))
        console.print(
            f"{e.effective_on}  v{e.version:<3} {what}  [dim]({who}, recorded {recorded})[/]"
        )
