"""`pathway deviations`: overrides, moves against the recommendation, overstays, per version."""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections import Counter, defaultdict
from typing import Any

from rich.console import Console

from engine.factlog import rebuild


def _p90(values: list[int]) -> float:
    if len(values) < 2:
        return float(values[0]) if values else 0.0
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def deviation_report(
    url: str | None,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """The quality-review report over moves with an effective date in [since, until], with the
    measures per version (`deviations_on` on a connection of its own)."""
    from engine.definitions import DefinitionRegistry
    from engine.store.db import database_url, make_engine

    engine = make_engine(database_url(url), create=False)
    try:
        with engine.connect() as conn:
            return deviations_on(conn, DefinitionRegistry(), since=since, until=until, today=today)
    finally:
        engine.dispose()


def deviations_on(
    conn: Any,
    registry: Any,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    today: dt.date | None = None,
    measures: bool = True,
    judged: dict[tuple[str, int, str, str], tuple[str | None, str | None]] | None = None,
) -> dict[str, Any]:
    """The report on an open connection, definitions from `registry` (a DefinitionRegistry):
    overrides by reason and by from → to, moves that differed from the recommendation at the
    time, patients past their state's dwell norm; overall and per definition version (`per_version`
    also breaks each of them down). With `measures`, every measure per version over the last
    365 days (or from `since`) to `until`.

    Working out a move's recommendation (the record rebuilt from the log before it, evaluated)
    is the expensive part. The log is append-only, so it never changes for a move and a
    definition version: `judged` (patient, log version, definition id, version) → (recommended
    trigger, its destination) keeps them between calls (a long-running caller passes the same
    dictionary; it is filled here), and only the patients with a move not in it are read."""
    import sqlalchemy as sa

    from engine.measures.logic import Period
    from engine.measures.registry import MEASURES
    from engine.measures.report import evaluate
    from engine.measures.sources import from_connection
    from engine.store.tables import enrollment_table, event_table
    from pathway.evaluation import decide
    from pathway.facts import derive
    from pathway.record import parse_record

    if since is not None and until is not None and until < since:
        from pathway.errors import Issue, RecordError

        raise RecordError(
            [Issue(loc="until", value=until, message=f"the window ends before since {since}")]
        )
    end = until or today or dt.date.today()
    ev, en = event_table(), enrollment_table()
    # every change of state, with the day the state it leaves was entered (the previous one's)
    changes = (
        sa.select(
            ev.c.patient_id,
            ev.c.version,
            ev.c.kind,
            ev.c.trigger,
            ev.c.from_state,
            ev.c.to_state,
            ev.c.reason_code,
            ev.c.effective_on,
            sa.func.lag(ev.c.effective_on, type_=ev.c.effective_on.type)  # a date, not text
            .over(partition_by=ev.c.patient_id, order_by=ev.c.version)
            .label("entered"),
        )
        .where(ev.c.kind.in_(("enrolled", "transition", "override")))
        .subquery()
    )
    c = changes.c
    moves_q = (
        sa.select(
            c.patient_id,
            c.version,
            c.kind,
            c.trigger,
            c.from_state,
            c.to_state,
            c.reason_code,
            c.effective_on,
            c.entered,
            en.c.definition_id,
            en.c.definition_version,
        )
        .join(en, en.c.patient_id == c.patient_id)
        .where(c.kind.in_(("transition", "override")), c.effective_on <= end)
        .order_by(c.patient_id, c.version)
    )
    if since is not None:
        moves_q = moves_q.where(c.effective_on >= since)
    moves = conn.execute(moves_q).all()
    # `pathway migrate` changes a patient's version: a move is judged, and counted, under the
    # version in force when it was made
    migrations: dict[str, list[tuple[int, tuple[str, str], tuple[str, str]]]] = defaultdict(list)
    for pid, version, payload in conn.execute(
        sa.select(ev.c.patient_id, ev.c.version, ev.c.payload)
        .where(ev.c.kind == "migrated")
        .order_by(ev.c.patient_id, ev.c.version)
    ):
        data = json.loads(payload)
        was, now = data.get("from", {}), data.get("to", {})
        migrations[pid].append(
            (version, (was.get("id", ""), was.get("version", "")), (now["id"], now["version"]))
        )

    def in_force(m: Any) -> tuple[str, str]:
        """The definition (id, version) a patient was pinned to when a move was made."""
        found = migrations.get(m.patient_id)
        if not found:
            return m.definition_id, m.definition_version
        earlier = [to for version, _, to in found if version < m.version]
        return earlier[-1] if earlier else found[0][1]

    heads = conn.execute(
        sa.select(
            en.c.patient_id,
            en.c.definition_id,
            en.c.definition_version,
            en.c.state,
            en.c.entered_state_on,
        )
    ).all()
    judged = {} if judged is None else judged
    pinned = [in_force(m) for m in moves]
    movers = sorted(
        {
            m.patient_id
            for m, p in zip(moves, pinned, strict=True)
            if (m.patient_id, m.version, *p) not in judged
        }
    )
    logs: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for i in range(0, len(movers), 500):
        found = conn.execute(
            sa.select(ev.c.patient_id, ev.c.version, ev.c.kind, ev.c.payload)
            .where(
                ev.c.patient_id.in_(movers[i : i + 500]),
                ev.c.kind.in_(("enrolled", "fact")),
            )
            .order_by(ev.c.patient_id, ev.c.version)
        )
        for pid, version, kind, payload in found:
            logs[pid].append((version, kind, payload))

    per_version: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "patients": 0,
            "moves": 0,
            "overrides": 0,
            "against_recommendation": 0,
            "overstays": 0,
            "overrides_by_reason": Counter(),
            "overrides_by_path": Counter(),
            "against_by_path": Counter(),
            "overstays_by_state": Counter(),
        }
    )
    by_reason: Counter[str] = Counter()
    by_path: Counter[str] = Counter()
    against: list[dict[str, Any]] = []
    last: tuple[tuple[str, int, str], Any] = (("", -1, ""), None)
    for m, (definition_id, definition_version) in zip(moves, pinned, strict=True):
        d = registry.get(definition_id, definition_version)
        key = f"{definition_id} {definition_version}"
        per_version[key]["moves"] += 1
        if m.kind == "override":
            per_version[key]["overrides"] += 1
            by_reason[m.reason_code or "?"] += 1
            by_path[f"{m.from_state} → {m.to_state}"] += 1
            per_version[key]["overrides_by_reason"][m.reason_code or "?"] += 1
            per_version[key]["overrides_by_path"][f"{m.from_state} → {m.to_state}"] += 1
        known = (m.patient_id, m.version, definition_id, definition_version)
        found = judged.get(known)
        if found is None:
            log = [(v, k, p) for v, k, p in logs[m.patient_id] if v < m.version]
            prefix = (m.patient_id, len(log), definition_version)
            if prefix != last[0]:  # moves with no fact between them share the rebuilt record
                enrolled = json.loads(log[0][2])
                header = {
                    "profile": enrolled.get("profile", {}),
                    "history": enrolled.get("history", {}),
                }
                doc = rebuild(m.patient_id, header, [json.loads(p) for _, _, p in log[1:]])
                last = (prefix, parse_record(doc, catalog=d.catalog))
            record = last[1]
            facts = derive(  # judged as the engine judged it: since the state was entered
                record,
                as_of=m.effective_on,
                params=d.parameters,
                catalog=d.catalog,
                entered_state_on=d.judged_since(m.from_state, m.entered or m.effective_on),
            )
            trigger = decide(d, facts, m.from_state).recommended
            to = next(
                (t.dest for t in d.transitions_from(m.from_state) if t.trigger == trigger), None
            )
            found = judged[known] = (trigger, to)
        recommended, dest = found
        if dest != m.to_state:
            per_version[key]["against_recommendation"] += 1
            move = f"{m.from_state} → {m.to_state} (recommended: {dest or 'no move'})"
            per_version[key]["against_by_path"][move] += 1
            against.append(
                {
                    "patient": m.patient_id,
                    "version": m.version,
                    "kind": m.kind,
                    "effective_on": m.effective_on.isoformat(),
                    "from": m.from_state,
                    "to": m.to_state,
                    "recommended": recommended,
                    "recommended_to": dest,
                    "reason_code": m.reason_code,
                }
            )

    dwell: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for h in heads:
        key = f"{h.definition_id} {h.definition_version}"
        per_version[key]["patients"] += 1
        d = registry.get(h.definition_id, h.definition_version)
        if d.state_by_id[h.state].kind != "final":
            dwell[(key, h.state)].append((h.patient_id, (end - h.entered_state_on).days))
    overstays = []
    norms = []
    for (key, state), rows in sorted(dwell.items()):
        # No state carries a sourced dwell parameter in the definition yet: the cohort's p90.
        norm = _p90([days for _, days in rows])
        norms.append(
            {
                "definition": key,
                "state": state,
                "norm_days": round(norm, 1),
                "source": "cohort p90",
                "patients": len(rows),
            }
        )
        for pid, days in sorted(rows, key=lambda r: (-r[1], r[0])):
            if days > norm:
                per_version[key]["overstays"] += 1
                per_version[key]["overstays_by_state"][state] += 1
                overstays.append(
                    {
                        "patient": pid,
                        "definition": key,
                        "state": state,
                        "days": days,
                        "norm_days": round(norm, 1),
                    }
                )

    for v in per_version.values():
        for name in ("overrides_by_reason", "overrides_by_path", "against_by_path"):
            v[name] = dict(sorted(v[name].items()))
        v["overstays_by_state"] = dict(sorted(v["overstays_by_state"].items()))
    if measures:
        start = since or (end - dt.timedelta(days=364))
        period = Period(start, end)
        patients = list(from_connection(conn, today=end))
        for key in per_version:
            version = key.split(" ", 1)[1]
            subset = [p for p in patients if p.version == version]
            per_version[key]["measures"] = {
                mid: {
                    g["id"]: {"populations": g["populations"], "score": g["score"]}
                    for g in evaluate(mid, patients=subset, period=period)["groups"]
                }
                for mid in MEASURES
            }
    return {
        "since": since.isoformat() if since else None,
        "until": end.isoformat(),
        "overrides_by_reason": dict(sorted(by_reason.items())),
        "overrides_by_path": dict(sorted(by_path.items())),
        "against_recommendation": against,
        "dwell_norms": norms,
        "overstays": overstays,
        "per_version": {k: per_version[k] for k in sorted(per_version)},
    }


def score_text(score: float | None) -> str:
    """A measure's score for people: "–" when there is none (no denominator left)."""
    return "– (no denominator)" if score is None else str(score)


def render(report: dict[str, Any], out: Console) -> None:
    """The report as text."""
    out.print(f"deviations {report['since'] or '…'} – {report['until']}", markup=False)
    out.print(
        "overrides by reason: "
        + (", ".join(f"{k} {v}" for k, v in report["overrides_by_reason"].items()) or "none"),
        markup=False,
    )
    for path, n in report["overrides_by_path"].items():
        out.print(f"  {path}: {n}", markup=False)
    out.print(
        f"moves against the recommendation: {len(report['against_recommendation'])}", markup=False
    )
    out.print(f"patients past their state's dwell norm: {len(report['overstays'])}", markup=False)
    for key, v in report["per_version"].items():
        scores = "; ".join(
            f"{mid} {g} {score_text(r['score'])}"
            for mid, gs in v.get("measures", {}).items()
            for g, r in gs.items()
        )
        out.print(
            f"{key}: {v['patients']} patients, {v['moves']} moves, {v['overrides']} "
            f"overrides, {v['against_recommendation']} against, {v['overstays']} overstays;"
            f" {scores}",
            markup=False,
        )
