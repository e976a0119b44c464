"""FHIR R4 (validated with `fhir.resources.R4B`) in and out: import, export, PlanDefinition,
AuditEvents of the access audit."""

from engine.fhir.audit import audit_event, audit_events
from engine.fhir.episode import export_patient
from engine.fhir.export import export_record, record_resources, stable_id
from engine.fhir.importing import FhirImportReport, Ignored, Refusal, import_fhir, map_resources
from engine.fhir.merge import Conflict, new_facts
from engine.fhir.plandefinition import plan_definition, plan_url
from engine.fhir.reading import read_paths

__all__ = [
    "Conflict",
    "FhirImportReport",
    "Ignored",
    "Refusal",
    "audit_event",
    "audit_events",
    "export_patient",
    "export_record",
    "import_fhir",
    "map_resources",
    "new_facts",
    "plan_definition",
    "plan_url",
    "read_paths",
    "record_resources",
    "stable_id",
]
