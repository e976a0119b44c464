"""The readable timeline: each log event as one line of history with its reasons."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.store.repository import EventRow
from engine.views import HistoryEntry
from pathway.evaluation import GuardResult


def history_entry(e: EventRow) -> HistoryEntry:
    """A log row as a readable timeline entry."""
    data = e.data()
    guard = None
    if e.kind == "fact":
        summary = describe(data)
    elif e.kind == "enrolled":
        ref = data.get("definition", {})
        summary = f"enrolled on {ref.get('id')} {ref.get('version')} in '{e.to_state}'"
    elif e.kind == "transition":
        guard = GuardResult.model_validate(data["guard"])
        # what held; a guard that held with none of its conditions true holds by a negation
        # (`review`: not a clear differential), so its conditions are why
        held = [r for r in guard.reasons if r.result == "true"] or guard.reasons
        why = "; ".join(r.detail for r in held)
        summary = f"{e.trigger}: {e.from_state} → {e.to_state}" + (f" because {why}" if why else "")
    elif e.kind == "migrated":
        old, new = data.get("from", {}), data.get("to", {})
        summary = (
            f"migrated from {old.get('id')} {old.get('version')} to {new.get('id')} "
            f"{new.get('version')} in '{e.to_state}'"
        )
        if data.get("old_enabled") != data.get("new_enabled"):
            summary += (
                f"; enabled moves {', '.join(data.get('old_enabled') or []) or 'none'} → "
                f"{', '.join(data.get('new_enabled') or []) or 'none'}"
            )
    else:
        summary = f"override {e.from_state} → {e.to_state} ({e.reason_code}): {e.note}"
    return HistoryEntry(
        version=e.version,
        kind=e.kind,
        effective_on=e.effective_on,
        recorded_at=e.recorded_at,
        actor=e.actor,
        summary=summary,
        fact=e.fact_kind,
        trigger=e.trigger,
        from_state=e.from_state,
        to_state=e.to_state,
        reason_code=e.reason_code,
        note=e.note,
        guard=guard,
        data=data if e.kind in ("fact", "override", "migrated") else None,
    )


def describe(fact: Mapping[str, Any]) -> str:
    """A one-line, readable account of a fact for the history timeline."""
    f = dict(fact)
    kind = f.pop("fact")
    if kind == "trial_started":
        return (
            f"started {f['drug']} ({f.get('role', 'antidepressant')}) at "
            f"{_mg(f['mg_per_day'])} mg/day"
        )
    if kind == "dose_changed":
        return f"trial #{f['trial']}: dose {_mg(f['mg_per_day'])} mg/day from {f['from']}"
    if kind == "trial_ended":
        why = f" ({f['stop_reason'].replace('_', ' ')})" if f.get("stop_reason") else ""
        if f.get("correction"):
            return f"trial #{f['trial']}: end corrected to {f['end']}{why}"
        return f"trial #{f['trial']} ended{why}"
    if kind == "trial_updated":
        parts = [f"{k.replace('_', ' ')} {v}" for k, v in f.items() if k != "trial"]
        return f"trial #{f['trial']}: {', '.join(parts)}"
    if kind == "measurement":
        return f"{f['instrument']} {f['score']}"
    if kind == "screen":
        return f"{f['instrument']} screen {f['score']}"
    if kind == "lab":
        return f"{f['test']} {f['value']:g} {f['unit']}"
    if kind == "contributor":
        note = f" ({f['note']})" if f.get("note") else ""
        return f"{f['kind'].replace('_', ' ')} {f['status']}{note}"
    if kind == "risk":
        found = [
            k.replace("_", " ")
            for k in ("psychotic_features", "catatonia", "not_eating_or_drinking")
            if f.get(k)
        ]
        return f"risk assessment: suicidality {f['suicidality']}" + (
            f", {', '.join(found)}" if found else ""
        )
    if kind == "procedure":
        end = f", ended {f['end']}" if f.get("end") else ""
        return f"{f['kind']} course: {f['sessions']} sessions{end}"
    return f"{kind}: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in f.items())


def _mg(v: float) -> str:
    return f"{v:g}"
