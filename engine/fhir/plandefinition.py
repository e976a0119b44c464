"""A pathway definition → a FHIR R4 PlanDefinition: states as actions, guards in words."""

from __future__ import annotations

from typing import Any

from engine.fhir import codes as c
from pathway.definition import Definition


def _fhir_id(name: str) -> str:
    """A state or trigger name as a FHIR id ([A-Za-z0-9-.]: underscores become hyphens)."""
    return name.replace("_", "-")


def plan_url(d: Definition) -> str:
    """The canonical url of a definition's PlanDefinition (without the version)."""
    return f"{c.PLAN_URL}/{d.metadata.id}"


def plan_definition(d: Definition) -> dict[str, Any]:
    """The PlanDefinition of a definition, validated with fhir.resources.R4B."""
    from fhir.resources.R4B.plandefinition import PlanDefinition

    actions = []
    for s in d.states:
        action: dict[str, Any] = {
            "id": _fhir_id(s.id),
            "title": s.label,
            "code": [{"coding": [{"system": c.CS_STATE, "code": s.id}], "text": s.kind}],
        }
        if s.description:
            action["description"] = s.description.strip()
        related = []
        conditions = []
        for t in d.transitions_from(s.id):
            words = t.guard_text() or "always"
            conditions.append(
                {
                    "kind": "applicability",
                    "expression": {
                        "language": "text/plain",
                        "name": _fhir_id(t.trigger),
                        "description": f"{t.trigger} → {t.dest}: {words}",
                    },
                }
            )
            related.append({"actionId": _fhir_id(t.dest), "relationship": "before-start"})
        if conditions:
            action["condition"] = conditions
            action["relatedAction"] = related
        actions.append(action)
    m = d.metadata
    res = {
        "resourceType": "PlanDefinition",
        "id": f"{m.id}-{m.version.replace('.', '-')}",
        "url": plan_url(d),
        "version": m.version,
        "name": m.id.upper(),
        "title": m.title,
        "status": "active",
        "description": m.description.strip() or m.title,
        "action": actions,
    }
    return PlanDefinition.model_validate(res).model_dump(mode="json", exclude_none=True)
