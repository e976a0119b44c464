"""The patient page's record forms as data: each form's fields, and the fact a posted form makes.

A form only turns text into the fact's types (numbers, booleans, percentages); whether the fact
is valid is the services' decision (`Services.record` refuses an invalid record, naming fields).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from pathway.definition import Definition
from pathway.record import (
    ContributorKind,
    ContributorStatus,
    MeasurementInstrument,
    ProcedureKind,
    StopReason,
)

Kind = Literal["date", "int", "float", "percent", "text", "textarea", "select", "bool", "trial"]


class FormProblem(Exception):
    """A field the form could not turn into a value (the message names it)."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        super().__init__(f"{name.replace('_', ' ')}: {message}")


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
            Field("same_period", "MDQ: symptoms in the same period", "bool", required=False),
            Field("impairment", "MDQ: impairment", "select", required=False, options="impairment"),
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


def _read(f: Field, raw: str) -> Any:
    text = raw.strip()
    if f.kind == "bool":
        return text in ("on", "true", "1", "yes")
    if f.kind in ("int", "trial"):
        try:
            return int(text)
        except ValueError:
            raise FormProblem(f.name, f"expected a whole number, got {text[:20]!r}") from None
    if f.kind in ("float", "percent"):
        try:
            value = float(text)
        except ValueError:
            raise FormProblem(f.name, f"expected a number, got {text[:20]!r}") from None
        if f.kind == "percent":
            if not 0 <= value <= 100:
                raise FormProblem(f.name, f"expected a percentage from 0 to 100, got {text[:20]}")
            return round(value / 100, 4)
        return value
    return text


def fact_from_form(name: str, fields: dict[str, str]) -> dict[str, Any]:
    """The fact a posted form describes (FormProblem for a missing or unreadable field)."""
    form = FORMS[name]
    fact: dict[str, Any] = {"fact": form.fact}
    for f in form.fields:
        raw = fields.get(f.name, "")
        if f.kind == "bool":
            if name == "screen" and fields.get("instrument") != "MDQ":
                continue  # the MDQ's own questions
            fact[f.name] = _read(f, raw)
            continue
        if raw.strip() == "":
            if f.required:
                raise FormProblem(f.name, "this field is needed")
            continue
        if name == "screen" and f.name == "impairment" and fields.get("instrument") != "MDQ":
            continue
        fact[f.name] = _read(f, raw)
    return fact
