"""The access audit (who read, wrote or exported what) as FHIR R4 AuditEvents, oldest first
(shared/fhir/mapping.md: type `rest`, action R/C/U/E, agent, entity = Patient)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from engine.fhir import codes as c
from engine.fhir.export import Resource, stable_id

if TYPE_CHECKING:
    import sqlalchemy as sa

EVENT_TYPE: Any = {
    "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
    "code": "rest",
    "display": "RESTful Operation",
}
_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
PATIENT_ENTITY: Any = {
    "type": {"system": _ENTITY_TYPE, "code": "1", "display": "Person"},
    "role": {"system": _OBJECT_ROLE, "code": "1", "display": "Patient"},
}
QUERY_ENTITY: Any = {
    "type": {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"},
    "role": {"system": _OBJECT_ROLE, "code": "24", "display": "Query"},
}
# The audit's actions that create or change something (the rest read, or run something).
CREATES = frozenset({"api.enroll", "user_add", "token_create"})
UPDATES = frozenset(
    {"api.record", "api.advance", "api.override", "advance", "override"}
    | {"user_disable", "user_enable", "token_revoke"}
)
EXECUTES = frozenset({"login", "logout", "api.assess"})
# AuditEvent.outcome: 0 success, 4 minor failure (the request was refused), 8 serious failure
OUTCOME = {"ok": "0", "error": "8"}


def action_code(action: str) -> str:
    """The AuditEvent action of one of the audit's actions: C, U, E, else R."""
    if action in CREATES:
        return "C"
    if action in UPDATES or action.startswith("record_"):  # the patient page's fact forms
        return "U"
    return "E" if action in EXECUTES else "R"


def audit_event(row: Mapping[str, Any] | sa.RowMapping) -> Resource:
    """One access audit row (`engine.store.tables.AccessAudit`) as an AuditEvent resource."""
    at: dt.datetime = row["at"]
    agent: dict[str, Any] = {
        "who": {"identifier": {"system": c.ID_USER, "value": row["actor"]}},
        "requestor": True,
    }
    if row["role"]:
        agent["role"] = [{"coding": [{"system": c.CS_ROLE, "code": row["role"]}]}]
    event: Resource = {
        "resourceType": "AuditEvent",
        "id": stable_id("access-audit", row["id"]),
        "type": EVENT_TYPE,
        "subtype": [{"system": c.CS_ACTION, "code": row["action"]}],
        "action": action_code(row["action"]),
        "recorded": at.astimezone(dt.UTC).isoformat(),
        "outcome": OUTCOME.get(row["outcome"], "4"),
        "outcomeDesc": row["outcome"],
        "agent": [agent],
        "source": {"site": "pathway", "observer": {"display": "pathway"}},
    }
    entities = []
    if row["patient_id"] is not None:
        pid = row["patient_id"]
        entities.append(
            {
                "what": {
                    "reference": f"Patient/{stable_id(pid, 'patient')}",
                    "identifier": {"system": c.ID_PATIENT, "value": pid},
                },
                **PATIENT_ENTITY,
            }
        )
    if row["cohort"] is not None:  # the filter of a list or an export, as stored (JSON)
        entities.append(
            {**QUERY_ENTITY, "detail": [{"type": "filter", "valueString": row["cohort"]}]}
        )
    if entities:
        event["entity"] = entities
    return event


def audit_events(
    conn: sa.Connection,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    user: str | None = None,
    patient: str | None = None,
    action: str | None = None,
) -> Iterator[Resource]:
    """The access audit's rows in the filter as AuditEvents, oldest first (`until` is the last
    day included; days are UTC), each validated with fhir.resources.R4B."""
    import sqlalchemy as sa
    from fhir.resources.R4B.auditevent import AuditEvent

    from engine.store.tables import access_audit_table

    a = access_audit_table()
    stmt = sa.select(a).order_by(a.c.id)
    for column, value in ((a.c.actor, user), (a.c.patient_id, patient), (a.c.action, action)):
        if value is not None:
            stmt = stmt.where(column == value)
    if since is not None:
        stmt = stmt.where(a.c.at >= dt.datetime.combine(since, dt.time(), dt.UTC))
    if until is not None and until < dt.date.max:
        stmt = stmt.where(
            a.c.at < dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), dt.UTC)
        )
    for row in conn.execute(stmt.execution_options(yield_per=1000)).mappings():
        event = audit_event(row)
        AuditEvent.model_validate(event)
        yield event


def ndjson_line(resource: Resource) -> str:
    """One resource as a line of NDJSON (keys sorted: the same audit gives the same bytes)."""
    return json.dumps(resource, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
