"""An enrolled patient → Bundle: the record, EpisodeOfCare, CarePlan, one Provenance per move."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from engine.fhir import codes as c
from engine.fhir.export import Resource, bundle, record_resources, stable_id
from engine.fhir.plandefinition import plan_url

if TYPE_CHECKING:
    from engine.services import Services


def export_patient(svc: Services, patient_id: str, *, as_of: dt.date | None = None) -> Resource:
    """A Bundle for one enrolled patient (UnknownPatient if not enrolled)."""
    loaded = svc.load(patient_id)
    status = svc.status(patient_id, as_of=as_of)
    hist = svc.history(patient_id)
    d = loaded.definition
    resources = record_resources(loaded.record, catalog=d.catalog)
    subject = {"reference": f"Patient/{stable_id(patient_id, 'patient')}"}
    episode_id = stable_id(patient_id, "episode-of-care")
    enrolled = next(e for e in hist.entries if e.kind == "enrolled")
    moves = [e for e in hist.entries if e.kind in ("transition", "override")]
    resources.append(
        {
            "resourceType": "EpisodeOfCare",
            "id": episode_id,
            "status": "active" if status.state_kind != "final" else "finished",
            "patient": subject,
            "period": {"start": enrolled.effective_on.isoformat()},
            "statusHistory": [
                {"status": "active", "period": {"start": enrolled.effective_on.isoformat()}}
            ],
        }
    )
    activities = [
        {
            "detail": {
                "code": {"text": str(item.get("item", "due"))},
                "status": "scheduled",
                "description": f"{item.get('label', '')}: {item.get('why', '')}".strip(": "),
                "scheduledString": f"due {item.get('due_on', '')}",
            }
        }
        for item in status.due
    ]
    careplan: Resource = {
        "resourceType": "CarePlan",
        "id": stable_id(patient_id, "careplan"),
        "extension": [
            {
                "url": c.EXT_STATE,
                "valueCodeableConcept": {
                    "coding": [{"system": c.CS_STATE, "code": status.state}],
                    "text": status.state_label,
                },
            }
        ],
        "instantiatesCanonical": [f"{plan_url(d)}|{d.metadata.version}"],
        "status": "active" if status.state_kind != "final" else "completed",
        "intent": "plan",
        "subject": subject,
        "supportingInfo": [{"reference": f"EpisodeOfCare/{episode_id}"}],
        "period": {"start": status.entered_state_on.isoformat()},
        "description": f"{status.state_label} since {status.entered_state_on.isoformat()}",
    }
    if activities:
        careplan["activity"] = activities
    resources.append(careplan)
    for e in moves:
        prov: dict[str, Any] = {
            "resourceType": "Provenance",
            "id": stable_id(patient_id, "move", e.version),
            "target": [{"reference": f"EpisodeOfCare/{episode_id}"}],
            "occurredDateTime": e.effective_on.isoformat(),
            "recorded": e.recorded_at.isoformat(),
            "activity": {
                "coding": [{"system": c.CS_STATE, "code": e.to_state or ""}],
                "text": f"{e.kind} {e.trigger or ''} {e.from_state} → {e.to_state}".replace(
                    "  ", " "
                ),
            },
            "agent": [{"who": {"display": e.actor}}],
        }
        if e.reason_code:
            prov["reason"] = [
                {
                    "coding": [{"system": c.CS_OVERRIDE, "code": e.reason_code}],
                    "text": e.reason_code,
                }
            ]
        resources.append(prov)
    return bundle(resources, bundle_id=stable_id(patient_id, "bundle"))
