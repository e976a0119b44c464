"""FHIR test fixtures: a database, resource builders, and the CLI runner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.fhir import codes as c
from engine.store.db import init_db, make_engine

Resource = dict[str, Any]


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A fresh SQLite database at the latest schema."""
    url = f"sqlite:///{tmp_path / 'pathway.db'}"
    engine = make_engine(url)
    init_db(engine)
    engine.dispose()
    return url


@pytest.fixture
def ehr_bundle() -> Callable[..., Resource]:
    """Factory: an EHR-style Bundle for one patient (RxNorm sertraline dispensings, a PHQ-9,
    an MDD diagnosis); `extra` resources are added, `phq9` sets the score."""

    def make(pid: str = "E-1", *, phq9: Any = 18, extra: list[Resource] | None = None) -> Resource:
        subject = {"reference": f"Patient/{pid}"}
        resources: list[Resource] = [
            {
                "resourceType": "Patient",
                "id": pid,
                "gender": "male",
                "birthDate": "1970-04-02",
                "identifier": [{"system": c.ID_PATIENT, "value": pid}],
            },
            {
                "resourceType": "Condition",
                "id": f"{pid}-mdd",
                "subject": subject,
                "code": {"coding": [{"system": c.ICD10CM, "code": "F32.1"}]},
                "clinicalStatus": {"coding": [{"system": c.CLINICAL, "code": "active"}]},
                "verificationStatus": {"coding": [{"system": c.VERIFICATION, "code": "confirmed"}]},
                "onsetDateTime": "2025-01-10",
            },
            {
                "resourceType": "Observation",
                "id": f"{pid}-phq",
                "status": "final",
                "subject": subject,
                "code": {"coding": [{"system": c.LOINC, "code": "44261-6"}]},
                "effectiveDateTime": "2025-01-15T10:00:00Z",
                "valueInteger": phq9,
            },
        ]
        for n, when in enumerate(["2025-01-15", "2025-02-14"]):
            resources.append(
                {
                    "resourceType": "MedicationDispense",
                    "id": f"{pid}-disp-{n}",
                    "status": "completed",
                    "subject": subject,
                    "whenHandedOver": when,
                    "medicationCodeableConcept": {
                        "coding": [{"system": c.RXNORM, "code": "312941"}]
                    },  # sertraline 50 mg
                    "quantity": {"value": 60},
                    "daysSupply": {"value": 30},
                }
            )
        resources += extra or []
        return {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
        }

    return make
