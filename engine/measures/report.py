"""Run a measure over patients; JSON summary, FHIR MeasureReport (R4B) and CSV outputs.

Patients are named by their pathway id, or, for a FHIR Patient without one, by the opaque label
`unidentified:N` (engine.measures.model): no MRN or other identifier reaches any output. Only a
pathway id is given the pathway's patient-id system in an individual MeasureReport.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import io
from collections.abc import Iterable
from typing import Any

from engine.measures.logic import DEN, EXCL, IP, NUM, GroupResult, Period
from engine.measures.model import PATHWAY_ID_SYSTEM, MeasurePatient, is_pathway_id, patient_order
from engine.measures.registry import GROUPS, MEASURES
from engine.measures.valuesets import ValueSets
from pathway.errors import Issue, RecordError

POPULATIONS = (IP, DEN, EXCL, NUM)
MEASURE_URL = "http://pathway.local/fhir/Measure"


def parse_period(text: str) -> Period:
    """START:END (YYYY-MM-DD:YYYY-MM-DD), START ≤ END; RecordError naming --period otherwise."""
    try:
        a, b = text.split(":")
        period = Period(dt.date.fromisoformat(a), dt.date.fromisoformat(b))
    except ValueError:
        raise RecordError(
            [
                Issue(
                    loc="--period",
                    value=text,
                    message="expected START:END as YYYY-MM-DD:YYYY-MM-DD",
                )
            ]
        ) from None
    if period.end < period.start:
        raise RecordError([Issue(loc="--period", value=text, message="END is before START")])
    return period


def check_measure(measure: str) -> str:
    """The measure id, canonical case (RecordError listing the known ones otherwise)."""
    found = {k.casefold(): k for k in MEASURES}.get(measure.casefold())
    if found is None:
        raise RecordError(
            [
                Issue(
                    loc="ID",
                    value=measure,
                    message=f"unknown measure; one of {', '.join(MEASURES)}",
                )
            ]
        )
    return found


def evaluate(
    measure: str,
    *,
    patients: Iterable[MeasurePatient],
    period: Period,
    vs: ValueSets | None = None,
) -> dict[str, Any]:
    """Counts per group (in the published order) and every patient's memberships."""
    mid = check_measure(measure)
    fn = MEASURES[mid]
    vs = vs or ValueSets()
    groups = {g: dict.fromkeys(POPULATIONS, 0) for g in GROUPS[mid]}
    rows: list[dict[str, Any]] = []
    # perf-notes: the cyclic garbage collector dominates bulk object building; pause it.
    paused = gc.isenabled()
    gc.disable()
    try:
        for p in patients:
            results: list[GroupResult] = fn(p, period, vs)
            for r in results:
                counts = groups[r.group]
                for k in POPULATIONS:
                    counts[k] += r.populations[k]
                if r.populations[IP]:
                    rows.append(
                        {
                            "patient": p.id,
                            "group": r.group,
                            **r.populations,
                            "index_date": r.index_date.isoformat() if r.index_date else None,
                        }
                    )
    finally:
        if paused:
            gc.enable()
    out_groups = [
        {"id": gid, "populations": counts, "score": score(counts)} for gid, counts in groups.items()
    ]
    return {
        "measure": check_measure(measure),
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
        "groups": out_groups,
        "patients": sorted(rows, key=lambda r: (patient_order(r["patient"]), r["group"])),
    }


def score(counts: dict[str, int]) -> float | None:
    """The rate: numerator ÷ (denominator − exclusions), four places; None without anyone."""
    eligible = counts[DEN] - counts[EXCL]
    return round(counts[NUM] / eligible, 4) if eligible else None


def to_csv(result: dict[str, Any]) -> str:
    """One row per patient per group (patients in the initial population)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["measure", "patient", "group", "index_date", *POPULATIONS])
    for r in result["patients"]:
        w.writerow(
            [
                result["measure"],
                r["patient"],
                r["group"],
                r["index_date"] or "",
                *(int(r[k]) for k in POPULATIONS),
            ]
        )
    return buf.getvalue()


def fhir_id(raw: str) -> str:
    """`raw` as a FHIR id (`[A-Za-z0-9.-]{1,64}`): as it is when it is one, else its valid
    characters cut short, with 12 hex digits of its SHA-256, so that two patients whose ids
    differ only by a character FHIR does not allow (`A_1`, `A-1`) or past the 64th never share
    one."""
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-.") else "-" for ch in raw)
    if safe == raw and len(raw) <= 64:
        return raw
    import hashlib

    return f"{safe[:51]}-{hashlib.sha256(raw.encode()).hexdigest()[:12]}"


def _report(
    result: dict[str, Any], groups: list[dict[str, Any]], kind: str, patient: str | None
) -> dict[str, Any]:
    from fhir.resources.R4B.measurereport import MeasureReport

    pop_system = "http://terminology.hl7.org/CodeSystem/measure-population"
    body: dict[str, Any] = {
        "resourceType": "MeasureReport",
        "id": f"{result['measure'].lower()}-{kind}" + (f"-{patient}" if patient else ""),
        "status": "complete",
        "type": kind,
        "measure": f"{MEASURE_URL}/{result['measure']}",
        "date": result["period"]["end"],
        "period": result["period"],
        "group": [
            {
                "id": g["id"],
                "population": [
                    {"code": {"coding": [{"system": pop_system, "code": k}]}, "count": n}
                    for k, n in g["populations"].items()
                ],
                **({"measureScore": {"value": g["score"]}} if g.get("score") is not None else {}),
            }
            for g in groups
        ],
    }
    if patient is not None and is_pathway_id(patient):
        body["subject"] = {"identifier": {"system": PATHWAY_ID_SYSTEM, "value": patient}}
    elif patient is not None:  # `unidentified:N`: a label, not an identifier of any system
        body["subject"] = {"display": patient}
    body["id"] = fhir_id(body["id"])
    return MeasureReport.model_validate(body).model_dump(mode="json", exclude_none=True)


def measure_reports(result: dict[str, Any], *, kind: str) -> dict[str, Any]:
    """`summary`: one MeasureReport; `individual`: a Bundle of one per patient (a patient
    without a pathway id: `subject` is only the display `unidentified:N`, no identifier)."""
    if kind == "summary":
        return _report(result, result["groups"], "summary", None)
    by_patient: dict[str, list[dict[str, Any]]] = {}
    for r in result["patients"]:
        by_patient.setdefault(r["patient"], []).append(
            {"id": r["group"], "populations": {k: int(r[k]) for k in POPULATIONS}}
        )
    entries = [
        {"resource": _report(result, gs, "individual", pid)}
        for pid, gs in sorted(by_patient.items(), key=lambda kv: patient_order(kv[0]))
    ]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}
