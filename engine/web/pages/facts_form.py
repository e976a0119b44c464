"""The patient page's record forms as data: each form's fields, and the fact a posted form makes.

A form only turns text into the fact's types (numbers, booleans, percentages); whether the fact
is valid is the services' decision (`Services.record` refuses an invalid record, naming fields).
`form_problems` says a refusal in the form's terms: each problem names the field by its label,
with what was typed and why ("Score: 99 is above the PHQ-9 maximum of 27"), never the record's
internal path (`[0].score`, `trials[3].drug`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pathway.catalog import Catalog
from pathway.definition import Definition
from pathway.errors import Issue, excerpt_text
from pathway.record import (
    ContributorKind,
    ContributorStatus,
    MeasurementInstrument,
    ProcedureKind,
    StopReason,
)

Kind = Literal["date", "int", "float", "percent", "text", "textarea", "select", "bool", "trial"]


class FormProblem(Exception):
    """A field the form could not turn into a value (the message names it by its label)."""

    def __init__(self, name: str, message: str, *, label: str | None = None) -> None:
        self.name, self.reason = name, message
        self.label = label or name.replace("_", " ").capitalize()
        super().__init__(f"{self.label}: {message}")


@dataclass(frozen=True)
class Problem:
    """Why a write was refused, in the form's words; `field` is the form field it is about
    (the page shows it next to that field too), None when it is about no one field."""

    text: str
    field: str | None = None

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Field:
    """One form field: the fact's key, its label, how to read it, and whether it is needed."""

    name: str
    label: str
    kind: Kind
    required: bool = True
    options: str | None = None  # the name of a list in `form_options`
    hint: str = ""
    step: str = "any"
    only_for: str | None = None  # an instrument: the field is that instrument's only (MDQ)


@dataclass(frozen=True)
class Form:
    """A record form: the fact it makes and its fields."""

    fact: str
    title: str
    fields: tuple[Field, ...]


FORMS: dict[str, Form] = {
    "measurement": Form(
        "measurement",
        "Rating scale score",
        (
            Field("date", "Date", "date"),
            Field("instrument", "Instrument", "select", options="instruments"),
            Field("score", "Score", "int"),
        ),
    ),
    "screen": Form(
        "screen",
        "Screen",
        (
            Field("date", "Date", "date"),
            Field("instrument", "Screen", "select", options="screens"),
            Field("score", "Score", "int"),
            Field(
                "same_period",
                "MDQ symptoms in the same period",
                "bool",
                required=False,
                only_for="MDQ",
            ),
            # the record requires it for an MDQ (spec: patient-record.md, `screens[]`)
            Field("impairment", "MDQ impairment", "select", options="impairment", only_for="MDQ"),
        ),
    ),
    "lab": Form(
        "lab",
        "Laboratory result",
        (
            Field("date", "Date", "date"),
            Field("test", "Test", "select", options="labs"),
            Field("value", "Value", "float"),
            Field("unit", "Unit", "text", hint="e.g. mIU/L, nmol/L, g/dL"),
        ),
    ),
    "contributor": Form(
        "contributor",
        "Contributor (medical, substance, stressor, bipolar)",
        (
            Field("kind", "Contributor", "select", options="contributors"),
            Field("status", "Status", "select", options="statuses"),
            Field("date", "Date", "date"),
            Field("note", "Note", "textarea", required=False),
        ),
    ),
    "risk": Form(
        "risk",
        "Risk assessment",
        (
            Field("date", "Date", "date"),
            Field("suicidality", "Suicidality", "select", options="suicidality"),
            Field("psychotic_features", "Psychotic features", "bool", required=False),
            Field("catatonia", "Catatonia", "bool", required=False),
            Field("not_eating_or_drinking", "Not eating or drinking", "bool", required=False),
        ),
    ),
    "trial_started": Form(
        "trial_started",
        "Start a trial",
        (
            Field("drug", "Drug", "text", hint="generic or brand name"),
            Field("role", "Role", "select", options="roles"),
            Field("start", "Start date", "date"),
            Field("mg_per_day", "Dose (mg/day)", "float"),
            Field("adherence", "Days covered (%)", "percent", required=False),
        ),
    ),
    "dose_changed": Form(
        "dose_changed",
        "Change a dose",
        (
            Field("trial", "Trial", "trial"),
            Field("from", "From date", "date"),
            Field("mg_per_day", "New dose (mg/day)", "float"),
        ),
    ),
    "trial_ended": Form(
        "trial_ended",
        "End a trial",
        (
            Field("trial", "Trial", "trial"),
            Field("end", "End date", "date"),
            Field("stop_reason", "Why it stopped", "select", required=False, options="stops"),
            Field("adherence", "Days covered (%)", "percent", required=False),
            Field(
                "correction",
                "Corrects an end already recorded",
                "bool",
                required=False,
                hint="the history keeps the end first recorded",
            ),
        ),
    ),
    "procedure": Form(
        "procedure",
        "Procedure course",
        (
            Field("kind", "Procedure", "select", options="procedures"),
            Field("start", "Start date", "date"),
            Field("end", "End date", "date", required=False),
            Field("sessions", "Sessions so far", "int"),
        ),
    ),
}


def form_options(definition: Definition) -> dict[str, list[tuple[str, str]]]:
    """The choices of every select, as (value, words)."""

    def words(values: tuple[str, ...]) -> list[tuple[str, str]]:
        return [(v, v.replace("_", " ")) for v in values]

    screens = [i.name for i in definition.catalog.instruments if i.kind != "measurement"]
    return {
        "instruments": words(get_args(MeasurementInstrument)),
        "screens": words(tuple(screens)),
        "impairment": words(("none", "minor", "moderate", "serious")),
        "labs": [
            ("TSH", "TSH"),
            ("vitamin_d_25oh", "vitamin D (25-OH)"),
            ("hemoglobin", "hemoglobin"),
        ],
        "contributors": words(get_args(ContributorKind)),
        "statuses": words(get_args(ContributorStatus)),
        "suicidality": words(("none", "passive", "active")),
        "roles": words(("antidepressant", "augmentation")),
        "stops": words(get_args(StopReason)),
        "procedures": words(get_args(ProcedureKind)),
    }


# what a number typed in a form may look like: ASCII digits, a sign, one decimal point (int()
# and float() also take "1_00", other scripts' digits, "1e2", "nan" and "inf")
_WHOLE = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def _read(f: Field, raw: str) -> Any:
    text = raw.strip()
    shown = excerpt_text(text, 20)
    if f.kind == "bool":
        return text in ("on", "true", "1", "yes")
    if f.kind in ("int", "trial"):
        if not _WHOLE.fullmatch(text):
            raise FormProblem(f.name, f"{shown} is not a whole number", label=f.label)
        return int(text)
    if f.kind in ("float", "percent"):
        if not _DECIMAL.fullmatch(text):
            raise FormProblem(f.name, f"{shown} is not a number", label=f.label)
        value = float(text)
        if f.kind == "percent":
            if not 0 <= value <= 100:
                raise FormProblem(
                    f.name, f"{shown} is not a percentage from 0 to 100", label=f.label
                )
            return round(value / 100, 4)
        return value
    return text


def form_of(form: str | Form | None) -> Form | None:
    """A form given by its name in FORMS, or a Form a page defines itself (the enrollment page
    reuses these fields and this parsing for the facts it collects), or None."""
    return form if isinstance(form, Form) else FORMS.get(form or "")


def fact_from_form(name: str | Form, fields: dict[str, str]) -> dict[str, Any]:
    """The fact a posted form describes (FormProblem for a missing or unreadable field);
    `name`: a form of FORMS, or a Form of another page."""
    form = name if isinstance(name, Form) else FORMS[name]
    fact: dict[str, Any] = {"fact": form.fact}
    for f in form.fields:
        if f.only_for is not None and fields.get("instrument") != f.only_for:
            continue  # another instrument's own questions (the MDQ's)
        raw = fields.get(f.name, "")
        if f.kind == "bool":
            fact[f.name] = _read(f, raw)
            continue
        if raw.strip() == "":
            if f.required:
                needed = f" for the {f.only_for}" if f.only_for else ""
                raise FormProblem(f.name, f"this field is needed{needed}", label=f.label)
            continue
        fact[f.name] = _read(f, raw)
    return fact


# -- a refusal in the form's terms ------------------------------------------------------------

OTHER_LABELS = {  # the fields of the page's other forms (override, advance) and the hidden ones
    "to": "To state",
    "reason": "Reason",
    "note": "Note",
    "trigger": "Move",
    "version": "Version",
}
# a record path's last name → the field of this form that gave it, when the names differ
_ALIASES = {
    ("trial_started", "from"): "start",  # the first dose starts with the trial
    ("trial_started", "doses"): "mg_per_day",
}
# words for a record path's last name that is no field of the form
_WORDS = {
    "from": "Dose date",
    "mg_per_day": "Dose (mg/day)",
    "doses": "Doses",
    "start": "Start date",
    "end": "End date",
    "correction": "Correction",
}
_POSITION = re.compile(r"\[\d+\]")
_BOUND = re.compile(r"Input should be (greater|less) than( or equal to)? (\S+)$")
_ONE_OF = re.compile(r"Input should be ('.*')$")


def label_of(form_name: str | Form | None, name: str) -> str:
    """A field's label on the form (or the words for a field the form does not have)."""
    form = form_of(form_name)
    for f in form.fields if form is not None else ():
        if f.name == name:
            return f.label
    return OTHER_LABELS.get(name) or _WORDS.get(name) or name.replace("_", " ").capitalize()


def _field_of(form: Form | None, loc: str) -> tuple[str | None, str]:
    """The form field a record path is about (None when none), and the path's last name."""
    names = [part for part in _POSITION.sub("", loc).split(".") if part]
    if not names:
        return None, ""
    last = names[-1]
    if form is None:
        return (last if last in OTHER_LABELS else None), last
    if any(f.name == last for f in form.fields):
        return last, last
    return _ALIASES.get((form.fact, last)), last


def _mentions(message: str, value: str) -> bool:
    return bool(value) and re.search(rf"(?<![\w.]){re.escape(value)}(?![\w.])", message) is not None


def _reason(
    message: str, value: str, *, field: str | None, fields: Mapping[str, str], catalog: Catalog
) -> str:
    """Why a value was refused, in words that start from the value ("99 is above …")."""
    if field == "score":
        instrument = next(
            (i for i in catalog.instruments if i.name == fields.get("instrument")), None
        )
        try:
            score = int(value)
        except ValueError:
            score = None
        if instrument is not None and score is not None:
            low, high = instrument.range
            if score > high:
                return f"{score} is above the {instrument.name} maximum of {high}"
            if score < low:
                return f"{score} is below the {instrument.name} minimum of {low}"
    if message == "Field required":
        needed = f" for the {fields['instrument']}" if field == "impairment" else ""
        return f"this field is needed{needed}"
    if not value:
        return message
    if message.startswith("Input should be a valid date"):
        detail = message.partition(", ")[2]
        return f"{value} is not a valid date" + (f" ({detail})" if detail else "")
    if message == "Input should be a finite number":
        return f"{value} is not a finite number"
    bound = _BOUND.match(message)
    if bound is not None:
        more, inclusive, limit = bound[1] == "greater", bool(bound[2]), bound[3]
        if inclusive:
            return f"{value} is {'below the minimum' if more else 'above the maximum'} of {limit}"
        return f"{value} is not {'more' if more else 'less'} than {limit}"
    one_of = _ONE_OF.match(message)
    if one_of is not None:
        return f"{value} is not one of the choices: {one_of[1].replace(chr(39), '')}"
    if _mentions(message, value):
        return message
    return f"{value} is refused: {message}"


def form_problems(
    form_name: str | Form | None,
    fields: Mapping[str, str],
    issues: Iterable[Issue],
    catalog: Catalog,
) -> list[Problem]:
    """A refused record's issues in the form's terms: each named by the label of the field it is
    about, with the value typed there (or the value the record refused) and the reason. Two
    issues that read the same once said so (a trial's start and its first dose) are one."""
    form = form_of(form_name)
    problems: list[Problem] = []
    for issue in issues:
        field, last = _field_of(form, issue.loc)
        typed = fields.get(field, "").strip() if field is not None else ""
        if typed:
            value = excerpt_text(typed, 40)
        elif issue.value is None or issue.value == "":
            value = ""
        else:
            raw = issue.value.isoformat() if hasattr(issue.value, "isoformat") else issue.value
            value = excerpt_text(str(raw), 40)
        reason = _reason(issue.message, value, field=field, fields=fields, catalog=catalog)
        if field is not None:
            text = f"{label_of(form_name, field)}: {reason}"
        elif last:
            text = f"{label_of(None, last)}: {reason}"
        else:
            text = reason
        problem = Problem(text, field)
        if problem not in problems:
            problems.append(problem)
    return problems
