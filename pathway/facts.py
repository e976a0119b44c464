"""Patient facts derived from a record as of a date: trials, flags, resistance, risk, relapse.

Flags are raised by evidence only: no screen on file means no flag, not an unknown one.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, TypeAlias

from pathway.catalog import Catalog
from pathway.parameters import Flag, Parameters
from pathway.procedures import ProcedureAssessment, assess_procedures
from pathway.record import Contributor, Lab, MDQScreen, PatientRecord, ScoreScreen
from pathway.results import PredicateResult, reason
from pathway.staging import Staging, stage
from pathway.trials import TrialAssessment, TrialRules, assess_trial_with, trial_rules
from pathway.words import inadequacy

_RAISING = ("suspected", "active", "confirmed")
_CLEARING = ("addressed", "ruled_out")
Flags: TypeAlias = dict[str, list[PredicateResult]]
Screens: TypeAlias = dict[str, MDQScreen | ScoreScreen]


@dataclass(slots=True)
class Facts:
    """Everything the predicates read, each piece with its evidence."""

    as_of: dt.date
    params: Parameters
    trials: list[TrialAssessment]
    current_trial: TrialAssessment | None
    current_augmentation: TrialAssessment | None
    failed_trials: list[TrialAssessment]
    failed_classes: list[str]
    flags: dict[str, list[PredicateResult]]
    bipolar_confirmed: PredicateResult | None
    life_threatening: PredicateResult | None
    treatment_resistant: bool
    latest_score: tuple[dt.date, str, int] | None
    latest_procedure: tuple[str, dt.date, dt.date | None, int] | None
    staging: Staging
    procedures: list[ProcedureAssessment]
    # the step being judged: the more recently started of the current antidepressant trial and
    # the latest procedure course (a tie goes to the procedure)
    current_step: TrialAssessment | ProcedureAssessment | None
    scores: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    # when the patient entered their current state (None: no state, as in `assess`)
    entered_state_on: dt.date | None = None
    # predicate results by content key: each distinct predicate is evaluated once per Facts
    memo: dict[str, PredicateResult] = field(default_factory=dict)
    # what several predicates share (the wording of a trial's outcome), worked out once
    shared: dict[tuple[str, str], Any] = field(default_factory=dict)
    # the date of the latest risk assessment on file as of the date (None: none on file)
    risk_date: dt.date | None = None

    @property
    def differential_clear(self) -> bool:
        return not self.flags_blocking and self.bipolar_confirmed is None

    @property
    def flags_blocking(self) -> list[str]:
        return [f for f in self.flags if f != "incomplete_trial"]

    @property
    def current_outcome(self) -> str | None:
        """The outcome of the current step (trial or procedure course)."""
        return self.current_step.outcome if self.current_step else None


def _latest_by_kind(contributors: list[Contributor]) -> dict[str, Contributor]:
    latest: dict[str, Contributor] = {}
    for c in contributors:  # later entries win ties: the log is appended in order
        cur = latest.get(c.kind)
        if cur is None or c.date >= cur.date:
            latest[c.kind] = c
    return latest


_first = itemgetter(0)


def _cleared(contributors: list[Contributor], kind: str, since: dt.date) -> bool:
    return any(c.kind == kind and c.status in _CLEARING and c.date >= since for c in contributors)


def _describe(c: Contributor) -> str:
    note = f" '{c.note}'" if c.note else ""
    return f"{c.kind.replace('_', ' ')}{note} {c.status} since {c.date.isoformat()}"


def _cite(params: Parameters, flag: Flag) -> str:
    """The source a flag's evidence cites: the section of the source article it comes from."""
    article = params.article_sections
    return f"{article.source}: {article.value[flag]}"


def _raise(flags: dict[str, list[PredicateResult]], flag: str, why: PredicateResult) -> None:
    flags.setdefault(flag, []).append(why)


def derive(
    record: PatientRecord,
    *,
    as_of: dt.date,
    params: Parameters,
    catalog: Catalog,
    entered_state_on: dt.date | None = None,
    rules: TrialRules | None = None,
) -> Facts:
    """Compute every fact the guards need, as of a date (data dated after it is ignored).

    `entered_state_on`: when the patient entered their current state, for the guards that
    judge only what happened since (a trial that ended before does not re-open a decision).
    `rules`: `trial_rules(params)`, when the caller has them (`Definition.compiled.rules`).
    """
    scores: dict[str, list[tuple[int, int]]] = defaultdict(list)
    latest_m = latest_day = None
    for m in record.measurements:
        day = m.date
        if day > as_of:
            continue
        scores[m.instrument].append((day.toordinal(), m.score))
        if latest_day is None or day >= latest_day:
            latest_m, latest_day = m, day
    latest_score = (
        None if latest_m is None else (latest_m.date, latest_m.instrument, latest_m.score)
    )
    for s in scores.values():
        s.sort(key=_first)

    as_of_o = as_of.toordinal()
    if rules is None:
        rules = trial_rules(params)
    age = as_of.year - record.birth_year if record.birth_year is not None else None
    courses = sorted(  # procedure starts: a course closes the outcome of a trial started before
        (p.start.toordinal(), p.kind) for p in record.procedures if p.start <= as_of
    )
    trials = [
        assess_trial_with(
            t, i, as_of_o, rules, catalog, scores, age, _first_course(courses, t.start)
        )
        for i, t in enumerate(record.trials)
        if t.start <= as_of
    ]
    current = current_aug = None  # the latest trial of each role (later entries win ties)
    failed = []
    for t in trials:
        if t.role == "antidepressant":
            if current is None or t.start >= current.start:
                current = t
            if t.status == "adequate" and t.outcome in ("none", "partial"):
                failed.append(t)
        elif current_aug is None or t.start >= current_aug.start:
            current_aug = t
    failed_classes = sorted({t.drug_class for t in failed}) if failed else []

    contributors = record.contributors
    if contributors:
        contributors = [c for c in contributors if c.date <= as_of]
    latest = _latest_by_kind(contributors) if contributors else {}
    flags: dict[str, list[PredicateResult]] = {}

    if current is not None and current.status == "inadequate":
        _raise(
            flags,
            "incomplete_trial",
            reason(
                "incomplete_trial",
                "true",
                f"current trial of {current.drug} is inadequate: "
                + "; ".join(inadequacy(current.reasons, params.min_adherence.value)),
                value=current.reasons,
                source=_cite(params, "incomplete_trial"),
                evidence_date=current.start,
            ),
        )
    screens: dict[str, MDQScreen | ScoreScreen] = {}
    for sc in record.screens:  # the latest screen per instrument, as of the date
        if sc.date <= as_of:
            cur = screens.get(sc.instrument)
            if cur is None or sc.date >= cur.date:
                screens[sc.instrument] = sc
    _bipolar(record, latest, screens, params, flags)
    _medical_and_substance(record, contributors, latest, screens, as_of, params, flags)
    stressor = latest.get("stressor")
    if stressor is not None and stressor.status in _RAISING:
        _raise(
            flags,
            "active_stressor",
            reason(
                "active_stressor",
                "true",
                _describe(stressor),
                value=stressor.status,
                evidence_date=stressor.date,
                source=_cite(params, "active_stressor"),
            ),
        )

    bip = latest.get("bipolar_disorder")
    bipolar_confirmed = None
    if bip is not None and bip.status in ("confirmed", "addressed"):
        # a bipolar diagnosis under treatment is still a bipolar diagnosis (the article's
        # section on missed bipolar disorder, which the bipolar_features flag cites too)
        bipolar_confirmed = reason(
            "bipolar_confirmed",
            "true",
            _describe(bip),
            value=bip.status,
            evidence_date=bip.date,
            source=_cite(params, "bipolar_features"),
        )

    life = None
    risk = record.risk
    if risk is not None and risk.date <= as_of:
        life_param = params.life_threatening_features
        found = [
            feature.replace("_", " ")
            for feature in life_param.value
            if (
                risk.suicidality == "active"
                if feature == "active_suicidality"
                else getattr(risk, feature)
            )
        ]
        if found:
            life = reason(
                "life_threatening",
                "true",
                f"risk assessment of {risk.date.isoformat()}: {', '.join(found)}",
                value=found,
                evidence_date=risk.date,
                source=life_param.source,
            )

    need = params.trd_min_failed_trials.value
    enough = len(failed) >= need and (
        not params.trd_require_distinct_classes.value or len(failed_classes) >= need
    )
    resistant = (
        enough and not [f for f in flags if f != "incomplete_trial"] and (bipolar_confirmed is None)
    )

    latest_proc = None
    procedures: list[ProcedureAssessment] = []
    step: TrialAssessment | ProcedureAssessment | None = current
    if record.procedures:
        procedures = assess_procedures(record.procedures, as_of, rules, scores)
        if procedures:  # the latest by start (later entries win ties)
            p = max(reversed(procedures), key=lambda p: p.start)
            latest_proc = (p.kind, p.start, p.end, p.sessions)
            if current is None or p.start >= current.start:
                step = p

    staging = stage(
        record,
        trials=trials,
        failed=failed,
        as_of=as_of,
        params=params,
        catalog=catalog,
        procedures=procedures,
    )
    # Positional, in field order: calling a class with keywords goes through a dict (slower).
    facts = Facts(
        as_of,
        params,
        trials,
        current,  # current_trial
        current_aug,  # current_augmentation
        failed,  # failed_trials
        failed_classes,
        dict(sorted(flags.items())) if len(flags) > 1 else flags,
        bipolar_confirmed,
        life,  # life_threatening
        resistant,  # treatment_resistant
        latest_score,
        latest_proc,  # latest_procedure
        staging,
        procedures,
        step,  # current_step
        scores,
        entered_state_on,
    )
    if risk is not None and risk.date <= as_of:
        facts.risk_date = risk.date
    return facts


def _first_course(courses: Sequence[tuple[int, str]], start: dt.date) -> tuple[int, str] | None:
    """The first procedure course started on or after a trial's start (its scores are the
    course's), if any."""
    start_o = start.toordinal()
    return next((c for c in courses if c[0] >= start_o), None)


def _bipolar(
    record: PatientRecord,
    latest: dict[str, Contributor],
    screens: Screens,
    params: Parameters,
    flags: Flags,
) -> None:
    bip = latest.get("bipolar_disorder")
    # Only a rule-out clears: it clears the history items and every MDQ dated on or before it; a
    # positive MDQ dated after it raises the flag again. Any other bipolar entry raises it.
    ruled_out = bip.date if bip is not None and bip.status == "ruled_out" else None
    h = record.history
    items = [
        name.replace("_", " ") for name in params.bipolar_history_features.value if getattr(h, name)
    ]
    if ruled_out is None and items:
        _raise(
            flags,
            "bipolar_features",
            reason(
                "bipolar_features",
                "true",
                f"history of {', '.join(items)}",
                value=items,
                source=_cite(params, "bipolar_features"),
            ),
        )
    mdq = screens.get("MDQ")
    if isinstance(mdq, MDQScreen) and (ruled_out is None or mdq.date > ruled_out):
        rule = params.mdq_positive.value
        positive = (
            mdq.score >= rule.min_score
            and (mdq.same_period or not rule.require_same_period)
            and mdq.impairment in rule.impairment
        )
        if positive:
            _raise(
                flags,
                "bipolar_features",
                reason(
                    "bipolar_features",
                    "true",
                    f"MDQ positive on {mdq.date.isoformat()}: score {mdq.score}, same period, "
                    f"{mdq.impairment} impairment",
                    value=mdq.score,
                    threshold=rule.min_score,
                    evidence_date=mdq.date,
                    source=params.mdq_positive.source,
                ),
            )
    if bip is not None and ruled_out is None:
        _raise(
            flags,
            "bipolar_features",
            reason(
                "bipolar_features",
                "true",
                _describe(bip),
                value=bip.status,
                evidence_date=bip.date,
                source=_cite(params, "bipolar_features"),
            ),
        )


def _medical_and_substance(
    record: PatientRecord,
    contributors: list[Contributor],
    latest: dict[str, Contributor],
    screens: Screens,
    as_of: dt.date,
    params: Parameters,
    flags: Flags,
) -> None:
    if latest:
        for kind, flag in params.contributor_flags.value.items():
            c = latest.get(kind)
            if c is not None and c.status in _RAISING:
                _raise(
                    flags,
                    flag,
                    reason(
                        flag,
                        "true",
                        _describe(c),
                        value=c.status,
                        evidence_date=c.date,
                        source=_cite(params, flag),
                    ),
                )
    sex_male = record.sex == "male"
    latest_lab: dict[str, Lab] = {}
    for lab in record.labs:
        if lab.date <= as_of:
            cur = latest_lab.get(lab.test)
            if cur is None or lab.date >= cur.date:
                latest_lab[lab.test] = lab
    lab_kinds = params.lab_contributors.value
    for test, lab in sorted(latest_lab.items()) if len(latest_lab) > 1 else latest_lab.items():
        kind = lab_kinds.get(test)  # type: ignore[call-overload]
        if kind is None:  # a lab this definition does not read
            continue
        value, unit, date = lab.value, lab.unit, lab.date
        if test == "TSH":
            rng = params.tsh_normal
            normal = rng.value
            low, high = normal.low, normal.high
            if low <= value <= high:
                continue
            detail = f"TSH {value:g} mIU/L on {date.isoformat()} outside {low:g}–{high:g}"
            threshold: Any = [low, high]
            source = rng.source
        elif test == "vitamin_d_25oh":
            p = params.vitamin_d_deficient_below
            cut = p.value["nmol/L"] if unit == "nmol/L" else p.value["ng/mL"]
            if not value < cut:
                continue
            detail = f"25-OH vitamin D {value:g} {unit} on {date.isoformat()} below {cut:g}"
            threshold, source = cut, p.source
        else:
            hp = params.hemoglobin_low_below_g_dl
            cut_dl = hp.value.male if sex_male else hp.value.other
            cut = cut_dl * 10 if unit == "g/L" else cut_dl
            if not value < cut:
                continue
            detail = f"hemoglobin {value:g} {unit} on {date.isoformat()} below {cut:g}"
            threshold, source = cut, hp.source
        if contributors and _cleared(contributors, kind, date):
            continue
        _raise(
            flags,
            "medical_contributor",
            reason(
                "medical_contributor",
                "true",
                detail,
                value=value,
                threshold=threshold,
                evidence_date=date,
                source=source,
            ),
        )
    if not screens:
        return
    for inst, rule in params.screen_flags.value.items():
        s = screens.get(inst)
        if s is None or (contributors and _cleared(contributors, rule.cleared_by, s.date)):
            continue
        flag = rule.flag
        cut_p = getattr(params, rule.cutoff)
        v = cut_p.value
        cut = v if isinstance(v, (int, float)) else (v.male if sex_male else v.other)
        if s.score >= cut:
            _raise(
                flags,
                flag,
                reason(
                    flag,
                    "true",
                    f"{inst} positive on {s.date.isoformat()}: {s.score} ≥ {cut:g}",
                    value=s.score,
                    threshold=cut,
                    evidence_date=s.date,
                    source=cut_p.source,
                ),
            )
