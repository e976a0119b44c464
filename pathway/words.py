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


def inadequacy(reasons: Iterable[str], min_adherence: float) -> list[str]:
    """Why a trial is not adequate, in words, in the order of its reason codes."""
    said = {
        "dose_below_effective": "the dose never reached the effective dose",
        "duration_short": "too few weeks at the effective dose",
        "dose_reduced": "the dose was cut below the effective dose",
        "adherence_low": f"adherence below {min_adherence:.0%}",
    }
    return [said.get(r) or r.replace("_", " ") for r in reasons]
