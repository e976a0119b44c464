"""Measure test helpers (imported as `measure_support`): a chart builder and dates."""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.measures.logic import GroupResult, Period
from engine.measures.model import patients_from_fhir
from engine.measures.registry import MEASURES
from engine.measures.valuesets import ValueSets

SNOMED = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
CPT = "http://www.ama-assn.org/go/cpt"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
PATHWAY_ID = "http://pathway.local/fhir/patient-id"  # the pathway's pseudonymous patient id
P2025 = Period(dt.date(2025, 1, 1), dt.date(2025, 12, 31))
VS = ValueSets()


def d(text: str, days: int = 0) -> str:
    """A date string, shifted by days."""
    return (dt.date.fromisoformat(text) + dt.timedelta(days=days)).isoformat()


class Chart:
    """One patient's resources, added fluently."""

    def __init__(self, birth: str = "1980-06-15", deceased: str | None = None) -> None:
        p: dict[str, Any] = {
            "resourceType": "Patient",
            "id": "p",
            "identifier": [{"system": PATHWAY_ID, "value": "p"}],
            "birthDate": birth,
        }
        if deceased:
            p["deceasedDateTime"] = deceased
        self.resources: list[dict[str, Any]] = [p]

    def _add(self, r: dict[str, Any]) -> Chart:
        r.setdefault("subject", {"reference": "Patient/p"})
        r["id"] = f"r{len(self.resources)}"
        self.resources.append(r)
        return self

    def condition(
        self,
        system: str,
        code: str,
        onset: str,
        *,
        clinical: str = "active",
        verification: str = "confirmed",
        abatement: str | None = None,
    ) -> Chart:
        r: dict[str, Any] = {
            "resourceType": "Condition",
            "code": {"coding": [{"system": system, "code": code}]},
            "clinicalStatus": {"coding": [{"code": clinical}]},
            "verificationStatus": {"coding": [{"code": verification}]},
            "onsetDateTime": onset,
        }
        if abatement:
            r["abatementDateTime"] = abatement
        return self._add(r)

    def mdd(self, onset: str = "2024-01-01") -> Chart:
        return self.condition(SNOMED, "370143000", onset)

    def visit(
        self,
        start: str,
        end: str | None = None,
        *,
        code: str = "99213",
        system: str = CPT,
        status: str = "finished",
    ) -> Chart:
        return self._add(
            {
                "resourceType": "Encounter",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "AMB",
                },
                "status": status,
                "type": [{"coding": [{"system": system, "code": code}]}],
                "period": {"start": start, "end": end or start},
            }
        )

    def phq9(self, when: str, score: int, *, status: str = "final", code: str = "44261-6") -> Chart:
        return self._add(
            {
                "resourceType": "Observation",
                "status": status,
                "code": {"coding": [{"system": LOINC, "code": code}]},
                "effectiveDateTime": when,
                "valueInteger": score,
            }
        )

    def dispense(self, when: str, days: int, *, code: str = "312941") -> Chart:
        return self._add(
            {
                "resourceType": "MedicationDispense",
                "status": "completed",
                "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code}]},
                "whenHandedOver": when,
                "daysSupply": {"value": days},
                "quantity": {"value": days},
            }
        )

    def order(self, start: str, end: str, *, status: str = "active") -> Chart:
        return self._add(
            {
                "resourceType": "MedicationRequest",
                "status": status,
                "intent": "order",
                "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "312941"}]},
                "dosageInstruction": [
                    {"timing": {"repeat": {"boundsPeriod": {"start": start, "end": end}}}}
                ],
            }
        )

    def run(self, measure: str, period: Period = P2025) -> dict[str, GroupResult]:
        (patient,) = patients_from_fhir(self.resources)
        return {g.group: g for g in MEASURES[measure](patient, period, VS)}
