"""What an imported record adds to an enrolled patient's record, as engine fact payloads."""

from __future__ import annotations

from typing import Any

from pathway.record import PatientRecord

LISTS = (
    ("measurements", "measurement"),
    ("screens", "screen"),
    ("labs", "lab"),
    ("contributors", "contributor"),
)


class Conflict(Exception):
    """The imported record contradicts the stored one in a way facts cannot express."""


def _dump(item: Any) -> dict[str, Any]:
    return dict(item.model_dump(mode="json", by_alias=True, exclude_none=False))


def new_facts(stored: PatientRecord, *, incoming: PatientRecord) -> list[dict[str, Any]]:
    """Fact payloads that bring `stored` up to `incoming` (nothing stored is ever removed).

    New list entries are appended; a new trial is started (with its dose steps and end); a
    stored trial may gain later dose steps, an end, adherence or a lithium level. Any other
    difference in a stored trial raises Conflict (an event log is not rewritten from FHIR).
    """
    facts: list[dict[str, Any]] = []
    profile = {
        k: getattr(incoming, k)
        for k in ("sex", "birth_year", "episode_start", "severity")
        if getattr(incoming, k) is not None and getattr(incoming, k) != getattr(stored, k)
    }
    if profile:
        facts.append({"fact": "profile", **_dump_values(profile)})
    flags = {
        k: True
        for k, v in incoming.history.model_dump().items()
        if v and not getattr(stored.history, k)
    }
    if flags:
        facts.append({"fact": "history", **flags})
    for field, kind in LISTS:
        have = [_dump(x) for x in getattr(stored, field)]  # a multiset: repeats count
        for item in getattr(incoming, field):
            d = _dump(item)
            if d in have:
                have.remove(d)
            else:
                facts.append({"fact": kind, **{k: v for k, v in d.items() if v is not None}})
    if incoming.risk is not None and incoming.risk != stored.risk:
        facts.append({"fact": "risk", **_dump(incoming.risk)})
    # A procedure fact replaces the entry of the same kind and start (engine.factlog).
    for p in incoming.procedures:
        if p not in stored.procedures:
            facts.append({"fact": "procedure", **_dump(p)})
    facts += _trial_facts(stored, incoming)
    return facts


def _dump_values(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in values.items()}


def _trial_facts(stored: PatientRecord, incoming: PatientRecord) -> list[dict[str, Any]]:
    facts: list[dict[str, Any]] = []
    # The k-th incoming trial of a (drug, start) is the k-th stored one of that key.
    index: dict[tuple[str, object], list[int]] = {}
    for n, st in enumerate(stored.trials):
        index.setdefault((st.drug, st.start), []).append(n)
    next_index = len(stored.trials)
    for t in incoming.trials:
        doses = [_dump(d) for d in t.doses]
        same = index.get((t.drug, t.start))
        i = same.pop(0) if same else None
        if i is None:
            i, next_index = next_index, next_index + 1
            facts.append(
                {
                    "fact": "trial_started",
                    "drug": t.drug,
                    "role": t.role,
                    "start": t.start.isoformat(),
                    "mg_per_day": t.doses[0].mg_per_day,
                    **({"adherence": t.adherence} if t.adherence is not None else {}),
                    **({"serum_level": t.serum_level} if t.serum_level else {}),
                }
            )
            facts += [{"fact": "dose_changed", "trial": i, **d} for d in doses[1:]]
            if t.end is not None:
                facts.append(
                    {
                        "fact": "trial_ended",
                        "trial": i,
                        "end": t.end.isoformat(),
                        "stop_reason": t.stop_reason,
                        "adherence": t.adherence,
                    }
                )
            continue
        old = stored.trials[i]
        known = [_dump(d) for d in old.doses]
        if doses[: len(known)] != known or t.role != old.role:
            raise Conflict(
                f"trial {t.drug} from {t.start} differs from the stored one "
                "(dose steps or role); not updated"
            )
        facts += [{"fact": "dose_changed", "trial": i, **d} for d in doses[len(known) :]]
        if old.end is not None and t.end != old.end:
            raise Conflict(f"trial {t.drug} from {t.start} has another end than the stored one")
        if old.end is None and t.end is not None:
            facts.append(
                {
                    "fact": "trial_ended",
                    "trial": i,
                    "end": t.end.isoformat(),
                    "stop_reason": t.stop_reason,
                    "adherence": t.adherence,
                }
            )
        elif (t.adherence, t.serum_level) != (old.adherence, old.serum_level):
            facts.append(
                {
                    "fact": "trial_updated",
                    "trial": i,
                    "adherence": t.adherence,
                    "serum_level": t.serum_level,
                }
            )
    return facts
