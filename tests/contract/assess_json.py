"""The documented keys and values of `pathway assess --json` (shared/spec/assess-output.md).

`problems(obj)` lists every way a JSON object breaks the contract (empty when it holds). Keys may
be added later, so extra keys are allowed; the documented ones must be there with documented
values. Used by tests/contract/test_assess_contract.py and the property tests.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

TOP_KEYS = frozenset(
    {
        "patient_id",
        "as_of",
        "definition",
        "trials",
        "failed_adequate_trials",
        "failed_classes",
        "treatment_resistant",
        "flags",
        "bipolar_confirmed",
        "life_threatening",
        "current_outcome",
        "staging",
        "enabled",
        "recommended",
        "guards",
        "procedures",  # from 1.1
        "current_step",
        "warnings",
    }
)
DEFINITION_KEYS = frozenset({"id", "version"})
TRIAL_KEYS = frozenset(
    {
        "index",
        "drug",
        "class",
        "role",
        "status",
        "reasons",
        "warnings",
        "max_dose_mg",
        "min_adequate_dose_mg",
        "weeks_on_drug",
        "weeks_at_adequate_dose",
        "adherence",
        "evaluation_due_on",
        "outcome",
        "outcome_basis",
    }
)
SCORE_BASIS_KEYS = frozenset({"instrument", "baseline", "end", "reduction"})
STAGING_KEYS = frozenset({"maudsley", "thase_rush"})
MAUDSLEY_KEYS = frozenset({"score", "band"})
GUARD_KEYS = frozenset({"trigger", "to", "result", "reasons"})
# "the predicate, the value it used, the threshold, the date of the evidence, and the source"
REASON_KEYS = frozenset(
    {"predicate", "result", "detail", "source", "value", "threshold", "evidence_date"}
)

ROLES = ("antidepressant", "augmentation")
STATUSES = ("adequate", "in_progress", "inadequate")
# in this order
REASON_CODES = ("dose_below_effective", "duration_short", "dose_reduced", "adherence_low")
OUTCOMES = ("remission", "relapsed", "response", "partial", "none", "unknown")
PROCEDURE_KEYS = frozenset(
    {"index", "kind", "start", "end", "sessions", "outcome", "outcome_basis"}
)
FLAGS = (
    "active_stressor",
    "bipolar_features",
    "incomplete_trial",
    "medical_contributor",
    "substance_use",
)
TRIGGERS = (  # the eleven triggers from `reassess`, in the order `guards` lists them
    "escalate",
    "exit",
    "review",
    "remit",
    "continue_course",
    "optimize",
    "complete",
    "augment",
    "refer_neurostimulation",
    "start_rapid_acting",
    "switch",
)
# the recommendation walks these steps: augment, then neuromodulation, come before switch only
# when their condition holds, so `enabled` is a subsequence of this (and its first is recommended)
STEPS = (*TRIGGERS, "augment", "refer_neurostimulation", "start_rapid_acting")
RESULTS = ("true", "false", "unknown")
BANDS = ("mild", "moderate", "severe")
THASE_RUSH = ("0", "I", "II", "III", "IV", "V")


def _date(value: Any) -> bool:
    try:
        return isinstance(value, str) and dt.date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _keys(where: str, obj: Any, keys: frozenset[str], out: list[str]) -> bool:
    if not isinstance(obj, dict):
        out.append(f"{where}: not an object")
        return False
    missing = keys - obj.keys()
    if missing:
        out.append(f"{where}: missing {sorted(missing)}")
    return not missing


def problems(obj: Any) -> list[str]:
    """Every violation of the assess-output contract in a decoded JSON object."""
    out: list[str] = []
    if not _keys("$", obj, TOP_KEYS, out):
        return out

    def check(ok: bool, what: str) -> None:
        if not ok:
            out.append(what)

    check(isinstance(obj["patient_id"], str), "patient_id: not a string")
    check(_date(obj["as_of"]), "as_of: not an ISO date")
    if _keys("definition", obj["definition"], DEFINITION_KEYS, out):
        check(obj["definition"] == {"id": "trd", "version": "1.1.0"}, "definition: not trd 1.1.0")

    trials = obj["trials"]
    check(isinstance(trials, list), "trials: not a list")
    indexes = []
    for n, t in enumerate(trials if isinstance(trials, list) else []):
        where = f"trials[{n}]"
        if not _keys(where, t, TRIAL_KEYS, out):
            continue
        indexes.append(t["index"])
        check(t["role"] in ROLES, f"{where}.role: {t['role']!r}")
        check(t["status"] in STATUSES, f"{where}.status: {t['status']!r}")
        check(
            t["reasons"] == [r for r in REASON_CODES if r in t["reasons"]]
            and len(set(t["reasons"])) == len(t["reasons"]),
            f"{where}.reasons: {t['reasons']!r} not a subset in the documented order",
        )
        check(
            (t["status"] == "adequate") == (t["reasons"] == []),
            f"{where}: status {t['status']} with reasons {t['reasons']}",
        )
        check(set(t["warnings"]) <= {"adherence_unknown"}, f"{where}.warnings: {t['warnings']}")
        check(t["outcome"] in OUTCOMES, f"{where}.outcome: {t['outcome']!r}")
        for key in ("weeks_on_drug", "weeks_at_adequate_dose"):
            check(
                _number(t[key]) and round(t[key], 1) == t[key] and t[key] >= 0,
                f"{where}.{key}: {t[key]!r} is not a non-negative number with one decimal",
            )
        check(t["weeks_at_adequate_dose"] <= t["weeks_on_drug"], f"{where}: more weeks at dose")
        check(_number(t["max_dose_mg"]) and t["max_dose_mg"] >= 0, f"{where}.max_dose_mg")
        check(
            t["min_adequate_dose_mg"] is None or _number(t["min_adequate_dose_mg"]),
            f"{where}.min_adequate_dose_mg",
        )
        check(
            t["adherence"] is None or (_number(t["adherence"]) and 0 <= t["adherence"] <= 1),
            f"{where}.adherence",
        )
        due = t["evaluation_due_on"]
        check(due is None or _date(due), f"{where}.evaluation_due_on: {due!r}")
        basis = t["outcome_basis"]
        if t["outcome"] == "unknown":
            check(basis is None, f"{where}.outcome_basis: {basis!r} for an unknown outcome")
        else:
            check(
                isinstance(basis, dict)
                and (basis.keys() >= SCORE_BASIS_KEYS or "stop_reason" in basis),
                f"{where}.outcome_basis: {basis!r}",
            )
    check(indexes == sorted(indexes) and len(set(indexes)) == len(indexes), "trials: not in order")

    check(
        isinstance(obj["failed_adequate_trials"], int) and obj["failed_adequate_trials"] >= 0,
        "failed_adequate_trials",
    )
    check(obj["failed_classes"] == sorted(set(obj["failed_classes"])), "failed_classes: unsorted")
    for key in ("treatment_resistant", "bipolar_confirmed", "life_threatening"):
        check(isinstance(obj[key], bool), f"{key}: not a boolean")
    flags = obj["flags"]
    check(flags == sorted(set(flags)) and set(flags) <= set(FLAGS), f"flags: {flags!r}")
    check(
        obj["current_outcome"] is None or obj["current_outcome"] in OUTCOMES,
        f"current_outcome: {obj['current_outcome']!r}",
    )
    procedures = obj["procedures"]
    check(isinstance(procedures, list), "procedures: not a list")
    for n, p in enumerate(procedures if isinstance(procedures, list) else []):
        if _keys(f"procedures[{n}]", p, PROCEDURE_KEYS, out):
            check(p["outcome"] in OUTCOMES, f"procedures[{n}].outcome: {p['outcome']!r}")
            check(p["end"] is None or _date(p["end"]), f"procedures[{n}].end")
    has_step = bool(procedures) or any(
        isinstance(t, dict) and t.get("role") == "antidepressant" for t in trials or []
    )
    check(
        (obj["current_outcome"] is None) == (not has_step),
        "current_outcome: null exactly when there is no antidepressant trial and no procedure",
    )
    step = obj["current_step"]
    check(
        (step is None) == (not has_step)
        and (step is None or (step.get("kind") in ("trial", "procedure") and "index" in step)),
        f"current_step: {step!r}",
    )
    check(
        isinstance(obj["warnings"], list) and all(isinstance(w, str) for w in obj["warnings"]),
        "warnings: not a list of strings",
    )

    staging = obj["staging"]
    if _keys("staging", staging, STAGING_KEYS, out) and _keys(
        "staging.maudsley", staging["maudsley"], MAUDSLEY_KEYS, out
    ):
        score, band = staging["maudsley"]["score"], staging["maudsley"]["band"]
        check(
            (score is None and band is None)
            or (isinstance(score, int) and 3 <= score <= 15 and band in BANDS),
            f"staging.maudsley: {staging['maudsley']!r}",
        )
        check(
            staging["thase_rush"] is None or staging["thase_rush"] in THASE_RUSH,
            f"staging.thase_rush: {staging['thase_rush']!r}",
        )

    guards = obj["guards"]
    check(
        isinstance(guards, list) and [g.get("trigger") for g in guards] == list(TRIGGERS),
        "guards: not one entry per trigger, in the recommendation order",
    )
    for n, g in enumerate(guards if isinstance(guards, list) else []):
        if not _keys(f"guards[{n}]", g, GUARD_KEYS, out):
            continue
        check(g["result"] in RESULTS, f"guards[{n}].result: {g['result']!r}")
        check(isinstance(g["to"], str), f"guards[{n}].to")
        for m, r in enumerate(g["reasons"]):
            if _keys(f"guards[{n}].reasons[{m}]", r, REASON_KEYS, out):
                check(r["result"] in RESULTS, f"guards[{n}].reasons[{m}].result")
                check(
                    r["evidence_date"] is None or _date(r["evidence_date"]),
                    f"guards[{n}].reasons[{m}].evidence_date",
                )
    enabled = obj["enabled"]
    true = [g.get("trigger") for g in guards if isinstance(g, dict) and g.get("result") == "true"]
    check(sorted(enabled) == sorted(true), f"enabled: {enabled!r} is not the true guards")
    check(len(set(enabled)) == len(enabled), "enabled: duplicates")
    steps = iter(STEPS)
    check(all(t in steps for t in enabled), f"enabled: {enabled!r} not in the recommendation order")
    check(
        obj["recommended"] == (enabled[0] if enabled else None),
        f"recommended: {obj['recommended']!r} is not the first of {enabled!r}",
    )
    return out
