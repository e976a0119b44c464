"""JSON Schemas generated from the models (the normative form of the YAML and record formats)."""

from __future__ import annotations

from typing import Any, Literal

from pathway.definition import Definition
from pathway.record import PatientRecord

SCHEMA_FILES = {"definition": "definition.schema.json", "patient": "patient.schema.json"}


def schema_for(what: Literal["definition", "patient"]) -> dict[str, Any]:
    """The JSON Schema of a definition or of a patient record."""
    model = Definition if what == "definition" else PatientRecord
    schema = model.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
