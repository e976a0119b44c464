"""The coordinators' worklist: what is due for each patient, most urgent first, and why."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from pathway.definition import Definition
from pathway.evaluation import GuardResult, guard_results
from pathway.facts import Facts, derive
from pathway.record import PatientRecord
from pathway.results import construct
from pathway.trials import INSTRUMENT_PREFERENCE

if TYPE_CHECKING:
    import typer
    from rich.console import Console

    from engine.services import Services

ItemKind = Literal[
    "urgent_risk",
    "evaluation_due",
    "decision_pending",
    "not_improving",
    "measurement_overdue",
    "maintenance_followup",
]
# Most urgent first: a life at risk, then a decision the pathway is waiting for, then follow-up.
PRIORITY: dict[str, int] = {
    "urgent_risk": 0,
    "evaluation_due": 1,
    "decision_pending": 2,
    "not_improving": 3,
    "measurement_overdue": 4,
    "maintenance_followup": 5,
}
LABELS: dict[str, str] = {
    "urgent_risk": "urgent risk",
    "evaluation_due": "evaluation due",
    "decision_pending": "decision pending",
    "not_improving": "not improving: psychiatric case review",
    "measurement_overdue": "measurement overdue",
    "maintenance_followup": "maintenance follow-up due",
}
_DECIDING = ("decision", "evaluation")
_Add = Callable[..., None]


class DueItem(BaseModel):
    """One thing a coordinator should act on for one patient."""

    model_config = ConfigDict(frozen=True)

    patient: str
    state: str
    item: ItemKind
    label: str
    due_on: dt.date
    overdue_days: int
    why: str
    sources: tuple[str, ...] = ()

    @property
    def priority(self) -> int:
        return PRIORITY[self.item]


def sort_key(item: DueItem) -> tuple[int, dt.date, str, str]:
    """Most urgent first: by item priority, then the longest overdue, then patient id."""
    return (PRIORITY[item.item], item.due_on, item.patient, item.state)


def due_items(
    state: str,
    *,
    entered_state_on: dt.date,
    facts: Facts,
    definition: Definition,
    as_of: dt.date | None = None,
    patient: str = "",
    guards: list[GuardResult] | None = None,
) -> list[DueItem]:
    """Every item due for a patient in `state` (entered on `entered_state_on`), most urgent first.

    `facts` are the patient's facts derived as of `as_of` (default: `facts.as_of`); `guards`
    may pass the guard results from `state` when the caller has them already. States are found
    by their kind (decision, evaluation, treatment, continuing, final), never by name; every
    number comes from the definition's parameters, whose sources each item's `why` cites.
    """
    day = as_of or facts.as_of
    kind = definition.state_by_id[state].kind
    if kind == "final":
        return []
    p = definition.parameters
    out: list[DueItem] = []

    def add(
        item: ItemKind, due: dt.date, why: str, *sources: str | None, label: str | None = None
    ) -> None:
        out.append(
            construct(
                DueItem,
                patient=patient,
                state=state,
                item=item,
                label=label or LABELS[item],
                due_on=due,
                overdue_days=(day - due).days,
                why=why,
                sources=tuple(s for s in sources if s),
            )
        )

    risk = facts.life_threatening
    results: list[GuardResult] = []  # read only with a risk on record or outside a decision
    if guards is not None:
        results = guards
    elif risk is not None or kind != "decision":
        results = guard_results(definition, facts, state)
    if risk is not None:
        escalation = [g for g in results if g.result == "true" and _uses_risk(definition, g)]
        since = risk.evidence_date or day
        if escalation or since >= entered_state_on:
            to = f"; {escalation[0].trigger} → {escalation[0].to} is enabled" if escalation else ""
            add("urgent_risk", since, f"{risk.detail}{to}", risk.source)

    if kind != "decision":
        for g in results:
            dest = definition.state_by_id.get(g.to)
            if g.result != "true" or dest is None or dest.kind != "decision":
                continue
            if _uses_risk(definition, g):
                continue
            true = [r for r in g.reasons if r.result == "true"]
            dates = [r.evidence_date for r in true if r.evidence_date is not None]
            due = max([entered_state_on, *dates])
            detail = "; ".join(r.detail for r in true) or g.trigger
            add(
                "evaluation_due",
                min(due, day),
                f"{detail}; '{g.trigger}' → {dest.label} is enabled",
                *(r.source for r in true),
                label=f"{LABELS['evaluation_due']}: {dest.label.lower()}",
            )

    if kind in _DECIDING:
        limit = p.decision_pending_days
        days = (day - entered_state_on).days
        if days > limit.value:
            add(
                "decision_pending",
                entered_state_on + dt.timedelta(days=limit.value),
                f"in {definition.state_by_id[state].label} ({kind}) for {days} days since "
                f"{entered_state_on.isoformat()}; a decision is due within {limit.value} days "
                "(decision_pending_days)",
                limit.source,
            )

    if kind == "treatment":
        _measurement_overdue(facts, entered_state_on, definition, day, add)
        _not_improving(facts, entered_state_on, definition, day, add)

    if kind == "continuing":
        gap = p.maintenance_followup_days
        ref, what = _last_contact(facts, entered_state_on)
        due = ref + dt.timedelta(days=gap.value)
        if day >= due:
            add(
                "maintenance_followup",
                due,
                f"{what}; follow-up every {gap.value} days in maintenance "
                "(maintenance_followup_days)",
                gap.source,
            )

    out.sort(key=sort_key)
    return out


def _uses_risk(definition: Definition, g: GuardResult) -> bool:
    return any(r.predicate == "life_threatening" and r.result == "true" for r in g.reasons)


def _last_contact(facts: Facts, entered: dt.date) -> tuple[dt.date, str]:
    """The later of the last score and entering the state: the clock of the follow-up items."""
    last = facts.latest_score
    if last is not None and last[0] >= entered:
        return last[0], f"last score {last[1]} {last[2]} on {last[0].isoformat()}"
    if last is not None:
        return entered, (
            f"no score since entering the state on {entered.isoformat()} "
            f"(last: {last[1]} on {last[0].isoformat()})"
        )
    return entered, f"no score on record since entering the state on {entered.isoformat()}"


def _measurement_overdue(
    facts: Facts, entered: dt.date, definition: Definition, day: dt.date, add: _Add
) -> None:
    gap = definition.parameters.measurement_overdue_days
    ref, what = _last_contact(facts, entered)
    due = ref + dt.timedelta(days=gap.value)
    if day >= due:
        add(
            "measurement_overdue",
            due,
            f"{what}; a score is expected every {gap.value} days in a treatment step "
            "(measurement_overdue_days)",
            gap.source,
        )


def step_start(facts: Facts, entered: dt.date) -> dt.date:
    """When the current treatment step began: the first trial started since entering the state."""
    starts = [t.start for t in facts.trials if entered <= t.start <= facts.as_of]
    return min(starts, default=entered)


def _step_change(facts: Facts, start: dt.date) -> tuple[str, int, int, float] | None:
    """(instrument, baseline, latest, fall) for the step beginning on `start`, if both exist."""
    p = facts.params
    s = start.toordinal()
    lookback, grace = p.baseline_lookback_days.value, p.baseline_grace_days.value
    for inst in INSTRUMENT_PREFERENCE:
        series = facts.scores.get(inst)
        if not series:
            continue
        base = None
        for d, v in series:  # latest score in the look-back window up to the step start
            if s - lookback <= d <= s:
                base = (d, v)
        if base is None:  # else the earliest in the first days of the step
            base = next(((d, v) for d, v in series if s < d <= s + grace), None)
        if base is None:
            continue
        last = series[-1]
        if last[0] <= base[0]:
            continue
        fall = (base[1] - last[1]) / base[1] if base[1] else 0.0
        return inst, base[1], last[1], fall
    return None


def _not_improving(
    facts: Facts, entered: dt.date, definition: Definition, day: dt.date, add: _Add
) -> None:
    p = definition.parameters
    window, need = p.not_improving_weeks, p.not_improving_reduction
    start = step_start(facts, entered)
    weeks = (day - start).days / 7
    if not window.value.low <= weeks <= window.value.high:
        return
    change = _step_change(facts, start)
    if change is None:
        return
    inst, base, last, fall = change
    if fall >= need.value:
        return
    add(
        "not_improving",
        start + dt.timedelta(days=round(7 * window.value.low)),
        f"{weeks:.1f} weeks into the step begun {start.isoformat()}: {inst} {base} → {last} "
        f"({fall:.0%} fall, less than {need.value:.0%}; not_improving_weeks "
        f"{window.value.low:g}–{window.value.high:g})",
        window.source,
        need.source,
    )


def next_due_on(
    record: PatientRecord,
    *,
    state: str,
    entered_state_on: dt.date,
    definition: Definition,
    as_of: dt.date,
    facts: Facts | None = None,
) -> dt.date | None:
    """The first date on which the patient has a due item if nothing new is recorded.

    The engine keeps it on the enrollment row (recomputed on every write), so the board can
    count patients with a due item in SQL: `next_due_on <= as_of`. Items due already give the
    earliest of their due dates. Time-driven items (decision pending, measurement overdue,
    maintenance follow-up, not improving) are computed directly; an evaluation window that
    opens later is confirmed by evaluating the guards on that date.
    """
    now = facts
    if now is None or now.as_of != as_of:  # facts of another day would answer another question
        now = derive(record, as_of=as_of, params=definition.parameters, catalog=definition.catalog)
    kind = definition.state_by_id[state].kind
    if kind == "final":
        return None
    items = due_items(state, entered_state_on=entered_state_on, facts=now, definition=definition)
    if items:
        return min(i.due_on for i in items)
    p = definition.parameters
    later: list[dt.date] = []
    if kind in _DECIDING:
        later.append(entered_state_on + dt.timedelta(days=p.decision_pending_days.value + 1))
    if kind == "treatment":
        ref, _ = _last_contact(now, entered_state_on)
        later.append(ref + dt.timedelta(days=p.measurement_overdue_days.value))
        start = step_start(now, entered_state_on)
        change = _step_change(now, start)
        opens = start + dt.timedelta(days=round(7 * p.not_improving_weeks.value.low))
        if change is not None and change[3] < p.not_improving_reduction.value and opens > as_of:
            later.append(opens)
    if kind == "continuing":
        ref, _ = _last_contact(now, entered_state_on)
        later.append(ref + dt.timedelta(days=p.maintenance_followup_days.value))
    best = min(later, default=None)
    if kind != "decision":
        windows = sorted(
            {
                t.evaluation_due_on
                for t in (now.current_trial, now.current_augmentation)
                if t is not None and t.evaluation_due_on is not None and t.evaluation_due_on > as_of
            }
        )
        for day in windows:
            if best is not None and day >= best:
                break
            then = derive(record, as_of=day, params=p, catalog=definition.catalog)
            if any(
                i.item == "evaluation_due"
                for i in due_items(
                    state, entered_state_on=entered_state_on, facts=then, definition=definition
                )
            ):
                return day
    return best


class Worklist(BaseModel):
    """The worklist as of a date: every due item, most urgent first."""

    model_config = ConfigDict(frozen=True)

    as_of: dt.date
    items: tuple[DueItem, ...]
    patients_checked: int
    patients_with_items: int
    counts: dict[str, int] = {}


def worklist(
    svc: Services,
    *,
    as_of: dt.date | None = None,
    state: str | None = None,
    limit: int | None = None,
    chunk: int = 500,
) -> Worklist:
    """The worklist from the database, most urgent first.

    Only enrollments whose `next_due_on` has come are read (one pass over the table); each one's
    record is rebuilt from its log and its items evaluated as of `as_of` (default today).
    `limit` keeps the first N items.
    """
    import sqlalchemy as sa

    from engine.replay import replay
    from engine.repository import ENROLLMENT_COLUMNS, EVENT_COLUMNS, EnrollmentRow, EventRow
    from engine.tables import enrollment_table, event_table
    from pathway.record import parse_record

    day = as_of or svc.clock.today()
    enr, ev = enrollment_table(), event_table()
    query = sa.select(*(enr.c[n] for n in ENROLLMENT_COLUMNS)).where(enr.c.next_due_on <= day)
    if state is not None:
        query = query.where(enr.c.state == state)
    items: list[DueItem] = []
    checked = flagged = 0
    with svc.uow as uow:
        conn = uow.connection  # type: ignore[attr-defined]
        heads = [EnrollmentRow(*r) for r in conn.execute(query.order_by(enr.c.patient_id))]
        for i in range(0, len(heads), chunk):
            part = heads[i : i + chunk]
            logs: dict[str, list[EventRow]] = {h.patient_id: [] for h in part}
            rows = conn.execute(
                sa.select(*(ev.c[n] for n in EVENT_COLUMNS))
                .where(ev.c.patient_id.in_(list(logs)))
                .order_by(ev.c.patient_id, ev.c.version)
            )
            for r in rows:
                logs[r[0]].append(EventRow(*r))
            for h in part:
                defn = svc.definitions.get(h.definition_id, h.definition_version)
                record = parse_record(
                    replay(h.patient_id, logs[h.patient_id]).document(), catalog=defn.catalog
                )
                facts = derive(record, as_of=day, params=defn.parameters, catalog=defn.catalog)
                found = due_items(
                    h.state,
                    entered_state_on=h.entered_state_on,
                    facts=facts,
                    definition=defn,
                    as_of=day,
                    patient=h.patient_id,
                )
                checked += 1
                flagged += bool(found)
                items += found
    items.sort(key=sort_key)
    counts = {k: n for k in PRIORITY if (n := sum(1 for i in items if i.item == k))}
    return Worklist(
        counts=counts,
        as_of=day,
        items=tuple(items[:limit] if limit is not None else items),
        patients_checked=checked,
        patients_with_items=flagged,
    )


def render(result: Worklist, console: Console, *, width: int = 70) -> None:
    """The worklist as a table (no patient-identifying data: ids are pseudonymous)."""
    from rich.table import Table

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

    from engine.cli_common import dump_json, handle_errors, out

    def worklist_command(
        as_of: str | None = _typer.Option(None, "--as-of", help="Date YYYY-MM-DD (today)."),
        state: str | None = _typer.Option(None, "--state", help="Only patients in this state."),
        limit: int | None = _typer.Option(None, "--limit", help="Show the first N items."),
        db: str | None = _typer.Option(None, "--db", help="Database URL or SQLite file."),
        json_out: bool = _typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """What is due, most urgent first: one row per item with patient, state, due date, why."""
        from engine.cli_engine import parse_date, services

        with services(db) as svc:
            result = worklist(svc, as_of=parse_date(as_of, "--as-of"), state=state, limit=limit)
        if json_out:
            dump_json(result)
        else:
            render(result, out)

    app.command("worklist")(handle_errors(worklist_command))
