"""Clinical words for the codes a reason mentions (outcomes, inadequacy reasons, stop reasons):
what a coordinator reads instead of an internal code."""

from __future__ import annotations

from collections.abc import Iterable

OUTCOME_WORDS: dict[str, str] = {
    "remission": "remission",
    "relapsed": "relapse after remission",
    "response": "response",
    "partial": "partial response",
    "none": "no response",
    "unknown": "unknown",
}
STATUS_WORDS: dict[str, str] = {
    "adequate": "adequate",
    "in_progress": "in progress",
    "inadequate": "inadequate",
}
STOP_REASON_WORDS: dict[str, str] = {
    "no_response": "no response",
    "partial_response": "partial response",
    "side_effects": "side effects",
    "remission": "remission",
    "patient_choice": "the patient's choice",
    "other": "another reason",
}


def words(code: str, table: dict[str, str]) -> str:
    """A code in words (an unknown code with its underscores as spaces)."""
    return table.get(code) or code.replace("_", " ")


def inadequacy(reasons: Iterable[str], min_adherence: float | None = None) -> list[str]:
    """Why a trial is not adequate, in words, in the order of its reason codes (the adherence
    minimum named when it is given)."""
    said = {
        "dose_below_effective": "the dose never reached the effective dose",
        "duration_short": "too few weeks at the effective dose",
        "dose_reduced": "the dose was cut below the effective dose",
        "adherence_low": "adherence below the minimum"
        if min_adherence is None
        else f"adherence below {min_adherence:.0%}",
    }
    return [said.get(r) or r.replace("_", " ") for r in reasons]


_ASKED: dict[str, dict[str, str]] = {
    "outcome": OUTCOME_WORDS,
    "trial_status": {**STATUS_WORDS, "none": "no trial"},
    "stopped_for": STOP_REASON_WORDS,
}


def asked(predicate: str, values: Iterable[str]) -> list[str]:
    """The categories a test asked for (`outcome` in [partial, response]), in words."""
    table = _ASKED.get(predicate, {})
    return [words(v, table) for v in values]
