"""Replaying a patient's log: the state, version and record the events alone imply.

The enrollment row is a cache of this replay; `verify` compares the two for every patient.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.factlog import rebuild
from engine.store.repository import EventRow


@dataclass
class Replayed:
    """What a log says: where the patient is, since when, and their facts (payloads)."""

    patient_id: str
    state: str | None = None
    version: int = 0
    entered_state_on: dt.date | None = None
    definition: tuple[str, str] | None = None
    definition_sha256: str | None = None  # the content hash the log pinned (from 1.1's engine)
    header: dict[str, Any] = field(default_factory=dict)
    facts: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        """The patient record document the facts rebuild (not yet validated)."""
        return rebuild(self.patient_id, self.header, self.facts)


def replay(
    patient_id: str, events: Sequence[EventRow], payloads: Sequence[dict[str, Any]] | None = None
) -> Replayed:
    """Fold the log in version order; `problems` lists anything inconsistent. `payloads`: the
    events' parsed payloads, when the caller has them (each is read, never changed)."""
    out = Replayed(patient_id=patient_id)
    for i, e in enumerate(events):
        data = payloads[i] if payloads is not None else None
        if e.version != i + 1:
            out.problems.append(f"event {i + 1} has version {e.version}")
        out.version = e.version
        if e.kind == "enrolled":
            if i != 0:
                out.problems.append(f"a second enrollment event at version {e.version}")
            data = e.data() if data is None else data
            ref = data.get("definition", {})
            out.definition = (ref.get("id", ""), ref.get("version", ""))
            out.definition_sha256 = ref.get("sha256")
            out.header = {"profile": data.get("profile", {}), "history": data.get("history", {})}
            out.state, out.entered_state_on = e.to_state, e.effective_on
        elif i == 0:
            out.problems.append(f"the log starts with a {e.kind} event, not an enrollment")
        if e.kind == "fact":
            out.facts.append(e.data() if data is None else data)
        elif e.kind in ("transition", "override"):
            if e.from_state != out.state:
                out.problems.append(
                    f"version {e.version}: {e.kind} from '{e.from_state}' while in '{out.state}'"
                )
            out.state, out.entered_state_on = e.to_state, e.effective_on
        elif e.kind == "migrated":
            ref = (e.data() if data is None else data).get("to", {})
            out.definition = (ref.get("id", ""), ref.get("version", ""))
            out.definition_sha256 = ref.get("sha256")
    if not events:
        out.problems.append("no events")
    return out
