"""The fixed list of override reason codes (an override outside it is refused)."""

from __future__ import annotations

REASON_CODES: dict[str, str] = {
    "clinical_judgement": "the clinician's judgement differs from the rules",
    "patient_preference": "the patient's informed choice",
    "information_outside_record": "facts the record does not capture yet",
    "case_review": "decided at a psychiatric case review or multidisciplinary meeting",
    "safety": "an urgent safety concern",
    "correction": "an earlier move was recorded in error",
}
