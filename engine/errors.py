"""Engine errors: more leaves under `pathway.errors.PathwayError` (the CLI exits 2 on all of them).

The core tree (`TransitionBlocked`, `InvalidTrigger`, `StaleVersion`, `UnknownPatient`,
`RecordError`) lives in `pathway.errors`; these cover what only a persisted pathway can get wrong.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pathway.errors import PathwayError
from pathway.yamlio import did_you_mean


class AlreadyEnrolled(PathwayError):
    """An enrollment for this patient id exists already."""

    def __init__(self, patient_id: str) -> None:
        self.patient_id = patient_id
        super().__init__(f"patient {patient_id} is already enrolled")


class FutureDate(PathwayError):
    """A fact or move is dated after today: only the past and the present can be recorded
    (`loc`: the input field that carries the date)."""

    def __init__(self, what: str, date: dt.date, today: dt.date, *, loc: str = "effective") -> None:
        self.what, self.date, self.today, self.loc = what, date, today, loc
        super().__init__(
            f"{what} {date.isoformat()} is in the future (today is {today.isoformat()}); "
            "future-dated facts and moves are refused"
        )


class BeforeEntry(PathwayError):
    """A back-dated move is dated before the patient entered the state it leaves (or a status
    is asked as of a day before it: the status judges the current state)."""

    def __init__(
        self,
        patient_id: str,
        date: dt.date,
        state: str,
        entered: dt.date,
        *,
        what: str = "effective date",
        hint: str = "",
    ) -> None:
        self.patient_id, self.date, self.state, self.entered = patient_id, date, state, entered
        super().__init__(
            f"{what} {date.isoformat()} is before patient {patient_id} entered "
            f"'{state}' on {entered.isoformat()}{hint}"
        )


class UnknownReasonCode(PathwayError):
    """An override names a reason code that is not on the fixed list."""

    def __init__(self, code: str, allowed: Sequence[str]) -> None:
        self.code, self.allowed = code, list(allowed)
        super().__init__(
            f"unknown override reason code '{code}'{did_you_mean(code, allowed)}; "
            f"allowed: {', '.join(allowed)}"
        )


class InvalidOverride(PathwayError):
    """An override names an unknown state, or the state the patient is already in."""


class DefinitionUnavailable(PathwayError):
    """A patient is pinned to a definition (id, version) that is not loaded."""

    def __init__(self, definition_id: str, version: str) -> None:
        self.definition_id, self.version = definition_id, version
        super().__init__(
            f"definition {definition_id} {version} is not available: pass its YAML with "
            "--definition or list it in PATHWAY_DEFINITIONS"
        )


class DatabaseNotReady(PathwayError):
    """The database has no pathway tables (or an older schema): run `pathway init-db`."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(f"the database {url} has no pathway tables: run `pathway init-db` first")


class DefinitionConflict(PathwayError):
    """A definition claims an id and version the database holds with other content."""

    def __init__(self, definition_id: str, version: str, stored: str, given: str) -> None:
        self.definition_id, self.version, self.stored, self.given = (
            definition_id,
            version,
            stored,
            given,
        )
        super().__init__(
            f"definition {definition_id} {version} is stored with sha256 {stored}, but this "
            f"file has sha256 {given}: a changed definition needs a new version"
        )


class MigrationRefused(PathwayError):
    """`pathway migrate` cannot move any patient (unknown target, nothing to move)."""


class RenderOptionError(PathwayError):
    """`pathway render` options that do not go together (e.g. a cohort filter without
    --cohort)."""
