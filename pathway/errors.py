"""The one tree of errors that `pathway`, `viz` and `engine` raise.

Messages are sentences that name the thing; structured `issues` or `reasons` ride along for UIs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from pathway.results import PredicateResult


def excerpt(value: Any, limit: int = 40) -> str:
    """A short, printable rendering of a value for messages: control characters escaped, long
    values cut (`…` and the full length)."""
    if isinstance(value, str):
        return "'" + excerpt_text(value, limit) + "'"
    if isinstance(value, dt.date):  # a date YAML read: 0001-01-01, not datetime.date(1, 1, 1)
        return excerpt_text(value.isoformat(), limit)
    return excerpt_text(repr(value), limit)


def excerpt_text(text: str, limit: int = 40) -> str:
    """`excerpt` of text, without quotes."""
    out = printable(text[: limit + 1])
    if len(text) > limit:
        out = printable(text[:limit]) + f"… ({len(text):,} characters)"
    return out


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def printable(text: str) -> str:
    """Text safe for a terminal: control and bidi characters shown as escapes (`\\x1b`)."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class Issue(BaseModel):
    """One problem in an input: where it is, what was found, what was expected."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    loc: str
    message: str
    value: Any = None
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        elif self.line:
            where = f"line {self.line}: "
        loc = f"{printable(self.loc)}: " if self.loc else ""
        # a message that already quotes the offending text ("unknown state 'x'") says it once;
        # a value is shown as a short excerpt, control characters escaped
        named = isinstance(self.value, str) and f"'{self.value}'" in self.message
        got = "" if self.value is None or named else f" (got {excerpt(self.value, 80)})"
        return f"{where}{loc}{excerpt_text(self.message, 400)}{got}"


class PathwayError(Exception):
    """Base class of every error this project raises on purpose."""


class _IssuesError(PathwayError):
    what = "input"

    def __init__(self, issues: Sequence[Issue], *, source: str | None = None) -> None:
        self.issues = list(issues)
        self.source = source
        head = f"{source}: " if source else ""
        n = len(self.issues)
        lines = "\n".join(f"  {i}" for i in self.issues)
        super().__init__(f"{head}{n} problem{'s' if n != 1 else ''} in the {self.what}:\n{lines}")


class DefinitionError(_IssuesError):
    """A pathway definition (or catalog) is malformed; every problem is listed in `issues`."""

    what = "definition"


class RecordError(_IssuesError):
    """A patient record or fact is invalid; every violation is listed in `issues`."""

    what = "patient record"


class TransitionBlocked(PathwayError):
    """A transition's guard is not true; `reasons` say why."""

    def __init__(
        self, trigger: str, state: str, result: str, reasons: Sequence[PredicateResult]
    ) -> None:
        self.trigger, self.state, self.result, self.reasons = trigger, state, result, list(reasons)
        why = "; ".join(f"{r.predicate}: {r.detail}" for r in self.reasons if r.result != "true")
        super().__init__(f"'{trigger}' from '{state}' is blocked (guard is {result}): {why}")


class InvalidTrigger(PathwayError):
    """The trigger does not exist from the current state."""

    def __init__(self, trigger: str, state: str, allowed: Sequence[str]) -> None:
        self.trigger, self.state, self.allowed = trigger, state, list(allowed)
        ok = ", ".join(self.allowed) or "none"
        super().__init__(f"{excerpt(trigger)} is not a transition from '{state}'; allowed: {ok}")


class StaleVersion(PathwayError):
    """A compare-and-swap write lost the race: someone else changed the patient first."""

    def __init__(self, patient_id: str, expected: int, actual: int) -> None:
        self.patient_id, self.expected, self.actual = patient_id, expected, actual
        super().__init__(
            f"patient {patient_id} changed since you read it (version {expected} → {actual}); "
            "reload and retry"
        )


class UnknownPatient(PathwayError):
    """No enrollment exists for this patient id."""

    def __init__(self, patient_id: str) -> None:
        self.patient_id = patient_id
        super().__init__(f"unknown patient {excerpt(patient_id)}: not enrolled")
