"""The caseload summary: one row of numbers per patient, stored on `enrollment` with every write.

What a coordinator's caseload list shows (state and days in it, weeks at an effective dose,
baseline → last score of the current instrument with the change, flags, next due item, last
contact) is worked out from the facts each write derives anyway (`engine.due.next_due`) and
written by the compare-and-swap UPDATE that already happens (migration 0009): the list is then
one indexed read of `enrollment`, whatever the caseload's size. Dates are stored, not ages: days
and weeks are counted at read time. `init-db` fills the columns for a database written before
0009 (`engine.due.backfill_summary`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from pathway.facts import Facts
from pathway.record import PatientRecord

if TYPE_CHECKING:
    from engine.store.repository import DueRow

# Bits of `enrollment.flags`. `not_improving` is not a bit: it becomes true on a date
# (`not_improving_on`), like the worklist item it mirrors.
FLAG_BITS: dict[str, int] = {
    "incomplete_trial": 1,
    "bipolar_features": 2,
    "medical_contributor": 4,
    "substance_use": 8,
    "active_stressor": 16,
    "risk": 32,
}
FLAGS = (*FLAG_BITS, "not_improving")
SUMMARY_COLUMNS = (
    "dose_since",
    "score_instrument",
    "baseline_score",
    "baseline_on",
    "last_score",
    "last_on",
    "score_change_pct",
    "flags",
    "not_improving_on",
    "next_due_item",
    "last_contact_on",
    "summary_on",
)
_DATES = frozenset(("dose_since", "baseline_on", "last_on", "not_improving_on"))
_DATES |= {"last_contact_on", "summary_on"}


@dataclass(frozen=True, slots=True)
class Summary:
    """A patient's caseload numbers as of `summary_on` (fields in `SUMMARY_COLUMNS` order)."""

    dose_since: dt.date | None  # at an effective (adequate) dose of the current trial since
    score_instrument: str | None  # the instrument of the latest score
    baseline_score: int | None  # its first score
    baseline_on: dt.date | None
    last_score: int | None  # its latest score
    last_on: dt.date | None
    score_change_pct: int | None  # (last - baseline) / baseline, in whole percent
    flags: int  # FLAG_BITS
    not_improving_on: dt.date | None  # when the "not improving" item falls due
    next_due_item: str | None  # the item of the first due date (`enrollment.next_due_on`)
    last_contact_on: dt.date | None  # the latest dated fact: score, screen, lab, risk, …
    summary_on: dt.date

    def values(self) -> tuple[Any, ...]:
        """The fields in `SUMMARY_COLUMNS` order (shallow: `dataclasses.astuple` deep-copies
        every value, a tenth of an `advance`)."""
        values: tuple[Any, ...] = _FIELDS(self)
        return values

    def params(self, sqlite: bool) -> tuple[Any, ...]:
        """Driver parameters in `SUMMARY_COLUMNS` order (SQLite takes dates as ISO text)."""
        values = self.values()
        if not sqlite:
            return values
        return tuple([v.isoformat() if type(v) is dt.date else v for v in values])


_FIELDS = attrgetter(*SUMMARY_COLUMNS)


class Scheduled(tuple["DueRow", ...]):
    """A patient's due items to store with a write, carrying the caseload summary worked out
    from the same facts (the repository writes both in the write's transaction)."""

    summary: Summary | None

    def __new__(cls, rows: Iterable[DueRow], summary: Summary | None = None) -> Scheduled:
        made = super().__new__(cls, rows)
        made.summary = summary
        return made


def summarize(
    record: PatientRecord, facts: Facts, items: Sequence[Any], *, as_of: dt.date
) -> Summary:
    """The summary of a patient from their record, the facts derived as of `as_of` and the
    due items `engine.worklist.schedule` gave (`DueItem`s)."""
    dose_since = None
    t = facts.current_trial
    if t is not None and t.ongoing and t.days_at_adequate_dose > 0:
        dose_since = as_of - dt.timedelta(days=t.days_at_adequate_dose)
    instrument = baseline = last = None
    if facts.latest_score is not None:
        instrument = facts.latest_score[1]
        series = facts.scores.get(instrument) or []
        if series:
            baseline, last = series[0], series[-1]
    change = None
    if baseline is not None and last is not None and baseline[1] > 0:
        change = round(100 * (last[1] - baseline[1]) / baseline[1])
    flags = 0
    for name in facts.flags:
        flags |= FLAG_BITS.get(name, 0)
    risk = record.risk
    if facts.life_threatening is not None or (risk is not None and risk.suicidality != "none"):
        flags |= FLAG_BITS["risk"]
    if any(i.item == "urgent_risk" for i in items):
        flags |= FLAG_BITS["risk"]
    not_improving = min((i.due_on for i in items if i.item == "not_improving"), default=None)
    first = min(items, key=lambda i: (i.due_on, i.priority), default=None)
    return Summary(
        dose_since=dose_since,
        score_instrument=instrument,
        baseline_score=baseline[1] if baseline else None,
        baseline_on=dt.date.fromordinal(baseline[0]) if baseline else None,
        last_score=last[1] if last else None,
        last_on=dt.date.fromordinal(last[0]) if last else None,
        score_change_pct=change,
        flags=flags,
        not_improving_on=not_improving,
        next_due_item=first.item if first is not None else None,
        last_contact_on=last_contact(record, as_of),
        summary_on=as_of,
    )


def last_contact(record: PatientRecord, as_of: dt.date) -> dt.date | None:
    """The latest date of a score, screen, lab, contributor status, risk assessment, procedure
    or trial event on or before `as_of` (a contact with the patient)."""
    days = [m.date for m in record.measurements]
    days += [s.date for s in record.screens]
    days += [lab.date for lab in record.labs]
    days += [c.date for c in record.contributors]
    days += [p.start for p in record.procedures]
    days += [t.start for t in record.trials]
    if record.risk is not None:
        days.append(record.risk.date)
    return max((d for d in days if d <= as_of), default=None)


def summary_of(scheduled: object) -> Summary | None:
    """The summary a write's due items carry (None: leave the stored one as it is)."""
    found: Summary | None = getattr(scheduled, "summary", None)
    return found


def date_values(names: Sequence[str]) -> list[bool]:
    """Which of these summary columns hold dates."""
    return [n in _DATES for n in names]


def stored_summary(uow: Any, patient_id: str) -> Summary | None:
    """A patient's stored summary (None: none stored, or a unit of work without SQL)."""
    conn = getattr(uow, "connection", None)
    if conn is None:
        return None
    row = conn.exec_driver_sql(
        f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM enrollment WHERE patient_id = "
        + ("?" if conn.dialect.name == "sqlite" else "%s"),
        (patient_id,),
    ).first()
    if row is None or row[-1] is None:
        return None
    values: list[Any] = [
        dt.date.fromisoformat(v) if is_date and isinstance(v, str) else v
        for v, is_date in zip(row, date_values(SUMMARY_COLUMNS), strict=True)
    ]
    return Summary(*values)
