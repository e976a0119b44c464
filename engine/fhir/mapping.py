"""One patient's FHIR R4 resources → a patient-record document, or the reasons it cannot be."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from engine.fhir import codes as c
from engine.measures.valuesets import ValueSets
from pathway.catalog import Catalog

Raw = dict[str, Any]


class Bad(Exception):
    """A resource that does not map: the FHIR path inside it and the reason."""

    def __init__(self, path: str, reason: str, resource: str | None = None) -> None:
        super().__init__(reason)
        self.path, self.reason, self.resource = path, reason, resource


@contextmanager
def _blame(r: Raw) -> Iterator[None]:
    """A Bad raised inside is about resource `r` (when several resources build one item)."""
    try:
        yield
    except Bad as bad:
        if bad.resource is None:
            bad.resource = ref_of(r)
        raise


@dataclass
class Mapped:
    """The record document built so far, where each list item came from, and what was skipped."""

    doc: Raw
    origins: dict[tuple[str, int], str] = field(default_factory=dict)
    refusals: list[tuple[str, str, str]] = field(default_factory=list)  # (resource, path, why)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (resource, why)

    def add(self, key: str, item: Raw, origin: str) -> None:
        self.origins[(key, len(self.doc[key]))] = origin
        self.doc[key].append(item)


def ref_of(r: Raw) -> str:
    """ "Type/id" of a resource (for reports)."""
    return f"{r.get('resourceType')}/{r.get('id', '?')}"


def day(value: Any, path: str) -> dt.date:
    """The calendar date of a FHIR date or dateTime as written (a partial date is refused)."""
    if not isinstance(value, str) or len(value) < 10:
        raise Bad(path, f"a full date YYYY-MM-DD is needed, got {value!r}")
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise Bad(path, f"not a date: {value!r}") from None


def _codings(cc: Any) -> list[Raw]:
    return list(cc.get("coding") or []) if isinstance(cc, dict) else []


def _code_in(cc: Any, system: str) -> str | None:
    return next((str(x["code"]) for x in _codings(cc) if x.get("system") == system), None)


def _status(cc: Any) -> str | None:
    codes = [x.get("code") for x in _codings(cc)]
    return str(codes[0]) if codes else None


def _ext(r: Raw, url: str) -> Any:
    for e in r.get("extension") or []:
        if e.get("url") == url:
            return next((v for k, v in e.items() if k.startswith("value")), None)
    return None


def _components(r: Raw) -> dict[str, Any]:
    out = {}
    for comp in r.get("component") or []:
        name = _code_in(comp.get("code"), c.CS_COMPONENT)
        if name:
            out[name] = next((v for k, v in comp.items() if k.startswith("value")), None)
    return out


def _lab_unit(q: Raw) -> Any:
    """The record's unit of a lab valueQuantity: its UCUM code read back to the record's
    spelling (`m[IU]/L` is mIU/L), else its human-readable unit, else its code."""
    code = q.get("code")
    if q.get("system") == c.UCUM and isinstance(code, str) and code:
        return c.UNIT_OF_UCUM.get(code, code)
    return q.get("unit") or code


def _first_date(r: Raw, *paths: str) -> tuple[str, Any]:
    for p in paths:
        obj: Any = r
        for part in p.split("."):
            obj = obj.get(part) if isinstance(obj, dict) else None
        if obj is not None:
            return p, obj
    raise Bad(paths[0], "a date is required")


def pathway_id(p: Raw) -> str:
    """The Patient's pseudonymous pathway id: the value of its identifier of system
    `codes.ID_PATIENT` (shared/fhir/mapping.md: `identifier` holds the pseudonymous id).

    Never another identifier (an MRN, a national number) and never `Patient.id`: the id goes
    into the append-only event log. Bad otherwise; the reason names identifier systems, never
    identifier values.
    """
    ids = [i for i in p.get("identifier") or [] if isinstance(i, dict)]
    ours = [(n, i.get("value")) for n, i in enumerate(ids) if i.get("system") == c.ID_PATIENT]
    need = f"an identifier of system {c.ID_PATIENT} (the pathway's pseudonymous patient id)"
    if not ours:
        systems = sorted({str(i.get("system") or "(none)") for i in ids})
        why = "; ".join(
            f"identifier of system {s} is not the pathway's pseudonymous id" for s in systems
        )
        raise Bad("identifier", f"{need} is required; {why or 'the Patient has no identifier'}")
    values = {v for _, v in ours if isinstance(v, str) and v.strip()}
    if not values:
        raise Bad(f"identifier[{ours[0][0]}].value", f"{need} has no value")
    if len(values) > 1:
        raise Bad("identifier", f"{need} is given with {len(values)} different values")
    return values.pop()


class Mapper:
    """Maps resources to record documents with a catalog (drugs, RxNorm, instruments)."""

    def __init__(
        self,
        catalog: Catalog,
        valuesets: ValueSets,
        *,
        medications: dict[str, Raw] | None = None,
    ) -> None:
        self.catalog = catalog
        # Medication resources of the input by "Medication/id" and fullUrl, for
        # medicationReference.
        self.medications = medications or {}
        vs = valuesets
        self.mdd = vs.union(["MajorDepressionIncludingRemission", "MajorDepression", "Dysthymia"])
        self.bipolar = vs["BipolarDisorder"]

    def patient(self, p: Raw, resources: list[Raw]) -> Mapped:
        """Map a Patient and its resources (in input order).

        Without the pathway's pseudonymous id the document's `id` is None and the Patient is
        among the refusals (its other resources are still mapped, so every problem is listed).
        """
        refusal: tuple[str, str, str] | None = None
        try:
            pid: str | None = pathway_id(p)
        except Bad as bad:
            pid, refusal = None, (ref_of(p), bad.path, bad.reason)
        doc: Raw = {"id": pid, "sex": p.get("gender") or "unknown"}
        if p.get("birthDate"):
            doc["birth_year"] = int(str(p["birthDate"])[:4])
        for key in ("trials", "measurements", "screens", "labs", "contributors", "procedures"):
            doc[key] = []
        m = Mapped(doc)
        if refusal is not None:
            m.refusals.append(refusal)
        requests: dict[str, list[Raw]] = defaultdict(list)
        dispenses: dict[str, list[Raw]] = defaultdict(list)
        sessions: dict[str, list[tuple[dt.date, str]]] = defaultdict(list)
        handlers = {
            "Condition": self._condition,
            "MedicationStatement": self._statement,
            "Observation": self._observation,
        }
        for r in resources:
            rt, ref = r.get("resourceType"), ref_of(r)
            try:
                if rt in handlers:
                    handlers[rt](r, m)
                elif rt == "MedicationRequest":
                    self._collect(r, m, requests, ("active", "completed", "stopped"))
                elif rt == "MedicationDispense":
                    self._collect(r, m, dispenses, ("completed",))
                elif rt == "Procedure":
                    self._procedure(r, m, sessions)
                else:
                    m.ignored.append((ref, f"{rt} is not part of a patient record"))
            except Bad as bad:
                m.refusals.append((ref, bad.path, bad.reason))
        groups = [(self._from_requests, requests), (self._from_dispenses, dispenses)]
        for build, grouped in groups:
            for drug, rs in sorted(grouped.items()):
                try:
                    build(drug, rs, m)
                except Bad as bad:
                    m.refusals.append((bad.resource or ref_of(rs[0]), bad.path, bad.reason))
        for kind, days in sorted(sessions.items()):
            days.sort()
            m.add(
                "procedures",
                {
                    "kind": kind,
                    "start": days[0][0].isoformat(),
                    "end": days[-1][0].isoformat(),
                    "sessions": len(days),
                },
                days[0][1],
            )
        return m

    # -- conditions -----------------------------------------------------------------------

    def _condition(self, r: Raw, m: Mapped) -> None:
        clinical = _status(r.get("clinicalStatus"))
        verification = _status(r.get("verificationStatus"))
        if verification == "entered-in-error":
            m.ignored.append((ref_of(r), "entered in error"))
            return
        code = r.get("code") or {}
        pairs = {(str(x.get("system")), str(x.get("code"))) for x in _codings(code)}
        kind = _code_in(code, c.CS_CONTRIBUTOR)
        icd = _code_in(code, c.ICD10CM) or ""
        snomed = _code_in(code, c.SNOMED) or ""
        if kind is None and (snomed in c.BIPOLAR_SNOMED or pairs & self.bipolar):
            kind = "bipolar_disorder"
        if kind is None and (snomed in c.MDD_SNOMED or pairs & self.mdd):
            if verification == "refuted":
                # mapping.md: the episode is a confirmed diagnosis; a ruled-out one is none
                m.ignored.append((ref_of(r), "depression diagnosis refuted: no episode"))
                return
            try:  # the onset (a dateTime or a period's start), else the recorded date
                path, value = _first_date(r, "onsetDateTime", "onsetPeriod.start", "recordedDate")
            except Bad:
                path, value = "onsetDateTime", None
            if value is not None:
                start = day(value, path).isoformat()
                if m.doc.get("episode_start") is None or start > m.doc["episode_start"]:
                    m.doc["episode_start"] = start
            sev = _code_in(r.get("severity"), c.CS_SEVERITY)
            if sev:
                m.doc["severity"] = sev
            return
        if kind is None:
            kind = next((k for p, k in c.CONTRIBUTOR_ICD10.items() if icd.startswith(p)), None)
        if kind is None:
            shown = ", ".join(f"{s}|{k}" for s, k in sorted(pairs)) or code.get("text", "none")
            raise Bad("code", f"unmapped condition code {shown}")
        path, value = _first_date(r, "recordedDate", "onsetDateTime", "onsetPeriod.start")
        if verification == "refuted":
            status = "ruled_out"
        elif clinical in ("resolved", "remission", "inactive"):
            status = "addressed"
        elif verification in ("provisional", "differential", "unconfirmed"):
            status = "suspected"
        elif verification == "confirmed":
            status = "confirmed"
        else:
            status = "active"
        item: Raw = {"kind": kind, "status": status, "date": day(value, path).isoformat()}
        notes = r.get("note") or []
        if notes and notes[0].get("text") is not None:
            item["note"] = notes[0]["text"]
        m.add("contributors", item, ref_of(r))

    # -- medications ----------------------------------------------------------------------

    def _drug(self, r: Raw) -> tuple[str, float | None]:
        """(catalog drug, mg per unit or None) from an RxNorm or catalog code."""
        cc = r.get("medicationCodeableConcept")
        path = "medicationCodeableConcept"
        ref = (r.get("medicationReference") or {}).get("reference")
        if cc is None and isinstance(ref, str):
            path = "medicationReference"
            contained = {f"#{x.get('id')}": x for x in r.get("contained") or []}
            med = contained.get(ref) or self.medications.get(ref)
            if med is None:
                raise Bad(path, f"no Medication {ref!r} in the input")
            cc = med.get("code")
        if cc is None:
            raise Bad(path, "a coded medication is required")
        rx = _code_in(cc, c.RXNORM)
        if rx is not None and rx in self.catalog.rxnorm:
            entry = self.catalog.rxnorm[rx]
            return entry.drug, entry.mg
        local = _code_in(cc, c.CS_DRUG)
        drug = self.catalog.drug(local) if local else None
        if drug is not None:
            return drug.name, None
        shown = ", ".join(f"{x.get('system')}|{x.get('code')}" for x in _codings(cc)) or "none"
        raise Bad(path, f"unknown medication code {shown}")

    def _role(self, r: Raw, drug: str) -> str:
        role = _ext(r, c.EXT_ROLE)
        if role:
            return str(role)
        d = self.catalog.drug(drug)
        return (
            "antidepressant"
            if d is not None and d.min_adequate_mg is not None
            else ("augmentation")
        )

    @staticmethod
    def _mg_per_day(dosage: Raw, strength: float | None, path: str) -> float:
        dr = (dosage.get("doseAndRate") or [{}])[0]
        q = dr.get("doseQuantity")
        if not q or q.get("value") is None:
            raise Bad(f"{path}.doseAndRate[0].doseQuantity", "a dose is required")
        unit = q.get("code") or q.get("unit")
        value = float(q["value"])
        if unit != "mg":
            if strength is None:
                raise Bad(
                    f"{path}.doseAndRate[0].doseQuantity",
                    f"dose in {unit!r} needs an RxNorm code with a strength, or mg",
                )
            value *= strength
        rep = (dosage.get("timing") or {}).get("repeat") or {}
        freq, period = rep.get("frequency", 1), rep.get("period", 1)
        per_day = {"h": 24.0, "d": 1.0, "wk": 1 / 7, "mo": 1 / 30}.get(rep.get("periodUnit", "d"))
        if per_day is None:
            raise Bad(f"{path}.timing.repeat.periodUnit", "unsupported period unit")
        return value * float(freq) / float(period) * per_day

    def _statement(self, r: Raw, m: Mapped) -> None:
        if r.get("status") in ("entered-in-error", "not-taken"):
            m.ignored.append((ref_of(r), f"status {r.get('status')}"))
            return
        drug, strength = self._drug(r)
        path, value = _first_date(r, "effectivePeriod.start", "effectiveDateTime")
        start = day(value, path)
        end_raw = (r.get("effectivePeriod") or {}).get("end")
        end = day(end_raw, "effectivePeriod.end") if end_raw else None
        doses = []
        for i, dosage in enumerate(r.get("dosage") or []):
            bounds = ((dosage.get("timing") or {}).get("repeat") or {}).get("boundsPeriod") or {}
            frm = (
                day(bounds["start"], f"dosage[{i}].timing.repeat.boundsPeriod.start")
                if (bounds.get("start"))
                else start
            )
            doses.append(
                {
                    "from": frm.isoformat(),
                    "mg_per_day": self._mg_per_day(dosage, strength, f"dosage[{i}]"),
                }
            )
        if not doses:
            raise Bad("dosage", "a dosage with a dose is required")
        trial: Raw = {
            "drug": drug,
            "role": self._role(r, drug),
            "start": start.isoformat(),
            "end": end.isoformat() if end else None,
            "doses": doses,
        }
        adherence = _ext(r, c.EXT_ADHERENCE)
        if adherence is not None:
            trial["adherence"] = float(adherence)
        serum = _ext(r, c.EXT_SERUM)
        if serum is not None:
            trial["serum_level"] = float(serum)
        reasons = r.get("statusReason") or []
        if reasons:
            trial["stop_reason"] = _code_in(reasons[0], c.CS_STOP_REASON) or "other"
        m.add("trials", trial, ref_of(r))

    def _collect(self, r: Raw, m: Mapped, into: dict[str, list[Raw]], ok: tuple[str, ...]) -> None:
        if r.get("status") not in ok:
            m.ignored.append((ref_of(r), f"status {r.get('status')}"))
            return
        drug, _ = self._drug(r)
        into[drug].append(r)

    def _from_requests(self, drug: str, rs: list[Raw], m: Mapped) -> None:
        # Each request's start first, then in date order (not input order): the trial's end is
        # the end of the chronologically last request, whatever order the input came in.
        dated: list[tuple[dt.date, int, Raw, Raw, float | None]] = []
        for n, r in enumerate(rs):
            with _blame(r):
                _, strength = self._drug(r)
                di = (r.get("dosageInstruction") or [None])[0]
                if di is None:
                    raise Bad("dosageInstruction", "a dosage instruction with a dose is required")
                bounds = ((di.get("timing") or {}).get("repeat") or {}).get("boundsPeriod") or {}
                path, value = _first_date(
                    {"b": bounds, "authoredOn": r.get("authoredOn")}, "b.start", "authoredOn"
                )
                start = day(
                    value,
                    "authoredOn"
                    if path == "authoredOn"
                    else "dosageInstruction[0].timing.repeat.boundsPeriod.start",
                )
            dated.append((start, n, r, di, strength))
        dated.sort(key=lambda x: (x[0], x[1]))
        steps: dict[str, float] = {}
        end: dt.date | None = None
        first = dated[0][2]
        for start, _, r, di, strength in dated:
            with _blame(r):
                steps[start.isoformat()] = self._mg_per_day(di, strength, "dosageInstruction[0]")
                bounds = ((di.get("timing") or {}).get("repeat") or {}).get("boundsPeriod") or {}
                if r.get("status") in ("completed", "stopped") and bounds.get("end"):
                    end = day(bounds["end"], "dosageInstruction[0].timing.repeat.boundsPeriod.end")
                else:
                    end = None
        days = sorted(steps)
        doses = [{"from": d, "mg_per_day": steps[d]} for d in days]
        m.add(
            "trials",
            {
                "drug": drug,
                "role": self._role(first, drug),
                "start": days[0],
                "end": end.isoformat() if end else None,
                "doses": doses,
            },
            ref_of(first),
        )

    def _fill(self, r: Raw, fills: list[tuple[dt.date, float, int]]) -> None:
        _, strength = self._drug(r)
        when = day(r.get("whenHandedOver"), "whenHandedOver")
        supply = (r.get("daysSupply") or {}).get("value")
        qty = (r.get("quantity") or {}).get("value")
        if not supply or supply <= 0:
            raise Bad("daysSupply", "a positive daysSupply is required")
        if qty is None or strength is None:
            raise Bad("quantity", "a quantity and an RxNorm code with a strength are required")
        fills.append((when, round(float(qty) * strength / float(supply), 6), int(supply)))

    def _from_dispenses(self, drug: str, rs: list[Raw], m: Mapped) -> None:
        fills: list[tuple[dt.date, float, int]] = []
        for r in rs:
            with _blame(r):
                self._fill(r, fills)
        fills.sort()
        doses: list[Raw] = []
        for when, mg, _ in fills:
            if not doses or doses[-1]["mg_per_day"] != mg:
                if doses and doses[-1]["from"] == when.isoformat():
                    doses[-1]["mg_per_day"] = mg
                else:
                    doses.append({"from": when.isoformat(), "mg_per_day": mg})
        start = fills[0][0]
        last = max(w + dt.timedelta(days=s - 1) for w, _, s in fills)
        span = (last - start).days + 1
        covered = len({w + dt.timedelta(days=k) for w, _, s in fills for k in range(s)})
        m.add(
            "trials",
            {
                "drug": drug,
                "role": self._role(rs[0], drug),
                "start": start.isoformat(),
                "end": last.isoformat(),
                "doses": doses,
                "adherence": round(min(1.0, covered / span), 3),
            },
            ref_of(rs[0]),
        )

    # -- observations ---------------------------------------------------------------------

    def _instrument(self, code: Raw) -> str | None:
        loinc = _code_in(code, c.LOINC)
        if loinc in c.LOINC_INSTRUMENT:
            return c.LOINC_INSTRUMENT[loinc]
        local = _code_in(code, c.CS_INSTRUMENT)
        if local is not None:
            return local
        text = code.get("text")
        return text if text in (*c.MEASUREMENTS, *c.SCREENS) else None

    def _observation(self, r: Raw, m: Mapped) -> None:
        if r.get("status") not in c.VALID_STATUS:
            m.ignored.append((ref_of(r), f"status {r.get('status')}"))
            return
        code = r.get("code") or {}
        inst = self._instrument(code)
        lab = c.LOINC_LAB.get(_code_in(code, c.LOINC) or "")
        if inst == "history":
            comps = _components(r)
            m.doc["history"] = {k: bool(v) for k, v in comps.items()}
            return
        path, value = _first_date(r, "effectiveDateTime", "effectivePeriod.start")
        when = day(value, path).isoformat()
        if inst == "risk":
            comps = _components(r)
            m.doc["risk"] = {"date": when, **comps}
            return
        if lab is not None:
            q = r.get("valueQuantity") or {}
            if q.get("value") is None:
                raise Bad("valueQuantity", f"a {lab} value with a unit is required")
            m.add(
                "labs",
                {
                    "date": when,
                    "test": lab,
                    "value": float(q["value"]),
                    "unit": _lab_unit(q),
                },
                ref_of(r),
            )
            return
        if inst is None:
            shown = ", ".join(f"{x.get('system')}|{x.get('code')}" for x in _codings(code))
            raise Bad("code", f"unmapped observation code {shown or code.get('text')}")
        score = self._score(r, inst)
        if inst in c.MEASUREMENTS:
            m.add("measurements", {"date": when, "instrument": inst, "score": score}, ref_of(r))
        else:
            item: Raw = {"date": when, "instrument": inst, "score": score}
            if inst == "MDQ":
                item.update(_components(r))
            m.add("screens", item, ref_of(r))

    def _score(self, r: Raw, inst: str) -> int:
        if "valueInteger" in r:
            path, value = "valueInteger", r["valueInteger"]
        elif "valueQuantity" not in r:
            # name the value[x] that is there (valueString, valueCodeableConcept, …), if any
            other = next((k for k in sorted(r) if k.startswith("value")), None)
            if other is None:
                raise Bad("value[x]", f"{inst} needs a score in valueInteger or valueQuantity")
            raise Bad(
                other,
                f"{inst} needs a score in valueInteger or valueQuantity, got {other} {r[other]!r}",
            )
        else:
            path, value = "valueQuantity.value", (r.get("valueQuantity") or {}).get("value")
        if value is None or float(value) != int(value):
            raise Bad(path, f"{inst} needs an integer score, got {value!r}")
        info = self.catalog.instrument_by_name.get(inst)
        if info is not None and not info.range[0] <= int(value) <= info.range[1]:
            lo, hi = info.range
            raise Bad(path, f"{inst} score {int(value)} is outside {lo}–{hi}")
        return int(value)

    # -- procedures -----------------------------------------------------------------------

    def _procedure(self, r: Raw, m: Mapped, sessions: dict[str, list[tuple[dt.date, str]]]) -> None:
        if r.get("status") in ("not-done", "entered-in-error"):
            m.ignored.append((ref_of(r), f"status {r.get('status')}"))
            return
        code = r.get("code") or {}
        kind = _code_in(code, c.CS_PROCEDURE) or c.CPT_PROCEDURE.get(_code_in(code, c.CPT) or "")
        if kind is None:
            shown = ", ".join(f"{x.get('system')}|{x.get('code')}" for x in _codings(code))
            raise Bad("code", f"unmapped procedure code {shown or code.get('text')}")
        path, value = _first_date(r, "performedPeriod.start", "performedDateTime")
        start = day(value, path)
        count = _ext(r, c.EXT_SESSIONS)
        if count is None and path == "performedDateTime":
            sessions[kind].append((start, ref_of(r)))
            return
        end_raw = (r.get("performedPeriod") or {}).get("end")
        m.add(
            "procedures",
            {
                "kind": kind,
                "start": start.isoformat(),
                "end": day(end_raw, "performedPeriod.end").isoformat() if end_raw else None,
                "sessions": int(count) if count is not None else 1,
            },
            ref_of(r),
        )
