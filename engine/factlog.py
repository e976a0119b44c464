"""Facts as log entries: what can be recorded about a patient, and how a record is rebuilt.

A patient record (`shared/spec/patient-record.md`) is stored as its enrollment header (profile and
history) plus one event per clinical fact, in record order, so replaying the facts gives back the
same record. Fact payloads reuse the record's own pydantic models, and every write validates the
rebuilt record with `pathway.parse_record`: a fact is accepted exactly when the record it produces
is a valid patient record and it does not contradict the record it is added to (`check_new`:
a second end of a trial, a dose after a trial's end, a duplicate trial start). `apply` and
`rebuild` replay stored logs without that check, so a log written before it still replays.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    Tag,
    TypeAdapter,
    ValidationError,
)

from pathway.catalog import Catalog, default_catalog
from pathway.errors import Issue, RecordError
from pathway.record import (
    Contributor,
    Date,
    Dose,
    History,
    Lab,
    MDQScreen,
    Measurement,
    PatientRecord,
    Procedure,
    Risk,
    ScoreScreen,
    Severity,
    Sex,
    StopReason,
    TrialRole,
)
from pathway.yamlio import did_you_mean, issues_from

FactKind = Literal[
    "trial_started",
    "dose_changed",
    "trial_ended",
    "trial_updated",
    "measurement",
    "screen",
    "lab",
    "contributor",
    "risk",
    "procedure",
    "profile",
    "history",
]
FACT_KINDS: tuple[str, ...] = FactKind.__args__  # type: ignore[attr-defined]
PROFILE_FIELDS = ("sex", "birth_year", "episode_start", "severity")
HISTORY_FIELDS = ("elevated_mood", "decreased_need_for_sleep", "racing_thoughts", "impulsivity")


class _Fact(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class TrialStarted(_Fact):
    """A medication trial began at a first daily dose."""

    fact: Literal["trial_started"]
    drug: str
    role: TrialRole = "antidepressant"
    start: Date
    mg_per_day: StrictFloat = Field(gt=0, allow_inf_nan=False)
    adherence: StrictFloat | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    serum_level: StrictFloat | None = Field(default=None, gt=0, allow_inf_nan=False)


class DoseChanged(Dose):
    """Trial number `trial` (0-based, record order) moved to a new daily dose from a date."""

    fact: Literal["dose_changed"]
    trial: StrictInt = Field(ge=0)


class TrialEnded(_Fact):
    """Trial number `trial` stopped on `end`, for a reason. `correction: true` replaces the end
    and stop reason of a trial that has ended (a mistyped date or reason); the log keeps both."""

    fact: Literal["trial_ended"]
    trial: StrictInt = Field(ge=0)
    end: Date
    stop_reason: StopReason | None = None
    adherence: StrictFloat | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    serum_level: StrictFloat | None = Field(default=None, gt=0, allow_inf_nan=False)
    correction: StrictBool = False


class TrialUpdated(_Fact):
    """Adherence or a lithium level learned for trial number `trial`."""

    fact: Literal["trial_updated"]
    trial: StrictInt = Field(ge=0)
    adherence: StrictFloat | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    serum_level: StrictFloat | None = Field(default=None, gt=0, allow_inf_nan=False)


class MeasurementFact(Measurement):
    """A rating-scale score."""

    fact: Literal["measurement"]


class MDQFact(MDQScreen):
    """A Mood Disorder Questionnaire."""

    fact: Literal["screen"]


class ScoreScreenFact(ScoreScreen):
    """A STOP-Bang, AUDIT-C or CUDIT-R screen."""

    fact: Literal["screen"]


class LabFact(Lab):
    """A laboratory result."""

    fact: Literal["lab"]


class ContributorFact(Contributor):
    """A contributor log entry (suspected, active, confirmed, addressed, ruled out)."""

    fact: Literal["contributor"]


class RiskFact(Risk):
    """A risk assessment (the latest by date is the patient's current risk)."""

    fact: Literal["risk"]


class ProcedureFact(Procedure):
    """A procedure course, or its progress: the entry with the same kind and start is replaced."""

    fact: Literal["procedure"]


class ProfileFact(_Fact):
    """Corrections to the profile: only the fields given change."""

    fact: Literal["profile"]
    sex: Sex | None = None
    birth_year: StrictInt | None = None
    episode_start: Date | None = None
    severity: Severity | None = None


class HistoryFact(_Fact):
    """Past periods suggesting bipolarity, learned later: only the fields given change."""

    fact: Literal["history"]
    elevated_mood: bool | None = None
    decreased_need_for_sleep: bool | None = None
    racing_thoughts: bool | None = None
    impulsivity: bool | None = None


def _tag(v: Any) -> str | None:
    kind = v.get("fact") if isinstance(v, dict) else getattr(v, "fact", None)
    if kind == "screen":
        inst = v.get("instrument") if isinstance(v, dict) else getattr(v, "instrument", None)
        return "fact[screen:MDQ]" if inst == "MDQ" else "fact[screen:score]"
    return f"fact[{kind}]" if kind in FACT_KINDS else None


Fact = Annotated[
    Annotated[TrialStarted, Tag("fact[trial_started]")]
    | Annotated[DoseChanged, Tag("fact[dose_changed]")]
    | Annotated[TrialEnded, Tag("fact[trial_ended]")]
    | Annotated[TrialUpdated, Tag("fact[trial_updated]")]
    | Annotated[MeasurementFact, Tag("fact[measurement]")]
    | Annotated[MDQFact, Tag("fact[screen:MDQ]")]
    | Annotated[ScoreScreenFact, Tag("fact[screen:score]")]
    | Annotated[LabFact, Tag("fact[lab]")]
    | Annotated[ContributorFact, Tag("fact[contributor]")]
    | Annotated[RiskFact, Tag("fact[risk]")]
    | Annotated[ProcedureFact, Tag("fact[procedure]")]
    | Annotated[ProfileFact, Tag("fact[profile]")]
    | Annotated[HistoryFact, Tag("fact[history]")],
    Discriminator(
        _tag,
        custom_error_type="unknown_fact",
        custom_error_message=f"fact must be one of {', '.join(FACT_KINDS)}",
    ),
]
_FACTS: TypeAdapter[list[Fact]] = TypeAdapter(list[Fact])


def parse_facts(data: Any, *, source: str | None = None) -> list[Fact]:
    """Validate one fact or a list of facts, raising RecordError listing every violation."""
    items = data if isinstance(data, list) else [data]
    if not items or not all(isinstance(i, dict) for i in items):
        raise RecordError(
            [Issue(loc="", message="expected a fact object or a list of them")], source=source
        )
    kinds = [_kind_issue(i, item) for i, item in enumerate(items)]
    if any(kinds):
        issues = [k for k in kinds if k is not None]
        if not isinstance(data, list):
            issues = [i.model_copy(update={"loc": _strip0(i.loc)}) for i in issues]
        raise RecordError(issues, source=source)
    try:
        return _FACTS.validate_python(items)
    except ValidationError as exc:
        issues = issues_from(exc, items)
        if not isinstance(data, list):  # one fact: drop the leading [0]
            issues = [i.model_copy(update={"loc": _strip0(i.loc)}) for i in issues]
        raise RecordError(issues, source=source) from None


def _kind_issue(index: int, item: dict[str, Any]) -> Issue | None:
    kind = item.get("fact")
    if kind in FACT_KINDS:
        return None
    if kind is None:
        return Issue(loc=f"[{index}].fact", message=f"missing; one of {', '.join(FACT_KINDS)}")
    return Issue(
        loc=f"[{index}].fact",
        value=kind,
        message=f"unknown fact kind{did_you_mean(str(kind), FACT_KINDS)}; "
        f"one of {', '.join(FACT_KINDS)}",
    )


def _strip0(loc: str) -> str:
    return loc[3:].lstrip(".") if loc.startswith("[0]") else loc


def payload_of(fact: Fact) -> dict[str, Any]:
    """The JSON form stored in the event log (the record's own field names, plus `kind`)."""
    data = fact.model_dump(mode="json", by_alias=True)
    if isinstance(fact, TrialEnded) and not fact.correction:  # stored as before corrections
        del data["correction"]
    if isinstance(fact, ProfileFact | HistoryFact | TrialUpdated):
        data = {k: v for k, v in data.items() if v is not None or k in fact.model_fields_set}
    return data


def fact_date(fact: Fact | Mapping[str, Any]) -> dt.date | None:
    """The clinical date a fact carries (None for profile, history and trial updates)."""
    data = fact if isinstance(fact, Mapping) else payload_of(fact)
    kind = data["fact"]
    key = {
        "trial_started": "start",
        "dose_changed": "from",
        "trial_ended": "end",
        "procedure": "start",
    }.get(kind, "date")
    if kind == "procedure" and data.get("end"):
        key = "end"
    value = data.get(key)
    if value is None:
        return None
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


# ---------------------------------------------------------------------------------------------
# Records ↔ facts
# ---------------------------------------------------------------------------------------------


def header_of(record: PatientRecord | None) -> dict[str, Any]:
    """The enrollment header: profile and history (what is not a list of dated facts)."""
    if record is None:
        return {"profile": {"sex": "unknown"}, "history": History().model_dump()}
    profile = record.model_dump(mode="json", include=set(PROFILE_FIELDS))
    return {"profile": profile, "history": record.history.model_dump()}


def facts_of(record: PatientRecord) -> list[dict[str, Any]]:
    """A record as fact payloads, in record order (replaying them rebuilds the same record)."""
    data = record.model_dump(mode="json", by_alias=True)
    out: list[dict[str, Any]] = []
    for i, t in enumerate(data["trials"]):
        first, *more = t["doses"]
        ended = t["end"] is not None
        started: dict[str, Any] = {
            "fact": "trial_started",
            "drug": t["drug"],
            "role": t["role"],
            "start": t["start"],
            "mg_per_day": first["mg_per_day"],
        }
        if not ended:
            started.update(adherence=t["adherence"], serum_level=t["serum_level"])
        out.append(started)
        out += [{"fact": "dose_changed", "trial": i, **d} for d in more]
        if ended:
            out.append(
                {
                    "fact": "trial_ended",
                    "trial": i,
                    "end": t["end"],
                    "stop_reason": t["stop_reason"],
                    "adherence": t["adherence"],
                    "serum_level": t["serum_level"],
                }
            )
    for key, kind in (
        ("measurements", "measurement"),
        ("screens", "screen"),
        ("labs", "lab"),
        ("contributors", "contributor"),
    ):
        out += [{"fact": kind, **item} for item in data[key]]
    if data["risk"] is not None:
        out.append({"fact": "risk", **data["risk"]})
    out += [{"fact": "procedure", **p} for p in data["procedures"]]
    return out


def new_document(patient_id: str, header: Mapping[str, Any]) -> dict[str, Any]:
    """An empty record document (the interchange format, as plain data) from a header."""
    return {
        "id": patient_id,
        **header.get("profile", {}),
        "history": dict(header.get("history", {})),
        "trials": [],
        "measurements": [],
        "screens": [],
        "labs": [],
        "contributors": [],
        "risk": None,
        "procedures": [],
    }


def apply(doc: dict[str, Any], fact: Mapping[str, Any]) -> None:
    """Apply one fact payload to a record document (raises RecordError for a missing trial)."""
    kind = fact["fact"]
    body = {k: v for k, v in fact.items() if k != "fact"}
    if kind == "trial_started":
        doc["trials"].append(
            {
                "drug": body["drug"],
                "role": body.get("role", "antidepressant"),
                "start": body["start"],
                "end": None,
                "doses": [{"from": body["start"], "mg_per_day": body["mg_per_day"]}],
                "adherence": body.get("adherence"),
                "stop_reason": None,
                "serum_level": body.get("serum_level"),
            }
        )
    elif kind in ("dose_changed", "trial_ended", "trial_updated"):
        trial = _trial(doc, body.pop("trial"))
        if kind == "dose_changed":
            trial["doses"].append(body)
        else:
            if kind == "trial_ended":
                trial["end"], trial["stop_reason"] = body["end"], body.get("stop_reason")
            for key in ("adherence", "serum_level"):
                if body.get(key) is not None or (kind == "trial_updated" and key in body):
                    trial[key] = body[key]
    elif kind in ("measurement", "screen", "lab", "contributor"):
        doc[kind + "s"].append(body)
    elif kind == "risk":
        if doc["risk"] is None or body["date"] >= doc["risk"]["date"]:
            doc["risk"] = body
    elif kind == "procedure":
        procs = doc["procedures"]
        same = [
            i
            for i, p in enumerate(procs)
            if p["kind"] == body["kind"] and p["start"] == body["start"]
        ]
        if same:
            procs[same[-1]] = body
        else:
            procs.append(body)
    elif kind == "profile":
        doc.update({k: v for k, v in body.items() if k in PROFILE_FIELDS})
    elif kind == "history":
        doc["history"].update({k: v for k, v in body.items() if v is not None})
    else:  # pragma: no cover - payloads are validated before they are stored
        raise ValueError(f"unknown fact kind {kind!r}")


def check_new(
    doc: Mapping[str, Any], fact: Mapping[str, Any], *, catalog: Catalog | None = None
) -> None:
    """Refuse (RecordError) a new fact that contradicts the record document it would be applied to.

    For writes only, before `apply`: a fact is checked against the record with every earlier fact
    (stored, and earlier in the same batch) applied. Refused: a `trial_ended` for a trial that
    already has an end, unless it says `correction: true` (even an identical repeat: the log has
    no idempotent facts), a `trial_ended` correction of a trial that has not ended, a
    `dose_changed` dated after its trial's end, and a `trial_started` with the drug, start and role
    of a trial already on record. Replay (`apply`, `rebuild`) never calls this: a stored log that
    holds such a sequence is history and still rebuilds as it did when it was written.
    """
    kind = fact["fact"]
    if kind == "trial_ended":
        index = fact["trial"]
        trial = _trial(doc, index)
        if trial["end"] is not None and not fact.get("correction"):
            raise RecordError([_second_end(index, trial, fact)])
        if trial["end"] is None and fact.get("correction"):
            raise RecordError(
                [
                    Issue(
                        loc="correction",
                        value=True,
                        message=f"{_describe(index, trial)} has not ended: there is no end to "
                        "correct (record trial_ended without correction)",
                    )
                ]
            )
    elif kind == "dose_changed":
        index = fact["trial"]
        trial = _trial(doc, index)
        end, start = trial["end"], fact["from"]
        if end is not None and _iso(start) > _iso(end):
            raise RecordError(
                [
                    Issue(
                        loc="from",
                        value=_iso(start),
                        message=f"{_describe(index, trial)} ended on {_iso(end)}; a dose_changed "
                        f"from {_iso(start)} would be after its end",
                    )
                ]
            )
    elif kind == "trial_started":
        cat = catalog or default_catalog()
        drug, start = _drug_name(cat, fact["drug"]), _iso(fact["start"])
        role = fact.get("role") or "antidepressant"
        for index, trial in enumerate(doc["trials"]):
            same = (
                _drug_name(cat, trial["drug"]) == drug
                and _iso(trial["start"]) == start
                and (trial.get("role") or "antidepressant") == role
            )
            if same:
                raise RecordError(
                    [
                        Issue(
                            loc="start",
                            value=start,
                            message=f"trial {index} ({trial['drug']}, {role}) already "
                            f"started on {start}; a second trial_started with the same drug, "
                            "start and role would be a duplicate trial",
                        )
                    ]
                )


def _second_end(index: int, trial: Mapping[str, Any], fact: Mapping[str, Any]) -> Issue:
    end, reason = _iso(trial["end"]), trial.get("stop_reason")
    new_end, new_reason = _iso(fact["end"]), fact.get("stop_reason")
    changes: list[str] = []
    if new_end != end:
        changes.append(f"its end from {end} to {new_end}")
    if new_reason != reason:
        changes.append(f"its stop reason from {reason or 'none'} to {new_reason or 'none'}")
    what = "change " + " and ".join(changes) if changes else "record the same end again"
    loc, value = ("stop_reason", new_reason) if new_end == end and changes else ("end", new_end)
    return Issue(
        loc=loc,
        value=value,
        message=f"{_describe(index, trial)} already ended on {end} "
        f"(stop reason {reason or 'none'}); a second trial_ended would {what} (to correct "
        "a mistaken end, record it with correction=true: the log keeps both)",
    )


def _describe(index: int, trial: Mapping[str, Any]) -> str:
    return f"trial {index} ({trial['drug']}, started {_iso(trial['start'])})"


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _drug_name(catalog: Catalog, name: str) -> str:
    drug = catalog.drug(name)
    return drug.name if drug is not None else name.strip().casefold()


def _trial(doc: Mapping[str, Any], index: int) -> dict[str, Any]:
    trials = doc["trials"]
    if not 0 <= index < len(trials):
        have = ", ".join(f"#{i} {t['drug']}" for i, t in enumerate(trials)) or "none"
        raise RecordError(
            [
                Issue(
                    loc="trial",
                    value=index,
                    message=f"no trial #{index} on record (trials: {have})",
                )
            ]
        )
    trial: dict[str, Any] = trials[index]
    return trial


def rebuild(
    patient_id: str, header: Mapping[str, Any], facts: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """The record document that a header and fact payloads (in log order) describe."""
    doc = new_document(patient_id, header)
    for f in facts:
        apply(doc, f)
    return doc
