"""Synthetic cohorts: TRD stories told as dated facts, walked through the pathway by its guards."""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from pathway.definition import Definition
from pathway.evaluation import GuardResult, guard_results, recommend
from pathway.facts import Facts, derive
from pathway.record import (
    Contributor,
    Dose,
    History,
    Lab,
    MDQScreen,
    Measurement,
    PatientRecord,
    Procedure,
    Risk,
    ScoreScreen,
    Trial,
)

if TYPE_CHECKING:
    import typer

    from engine.repository import EnrollmentRow, EventRow
    from engine.services import Services

# QIDS-SR16 remission per STAR*D level 1–4 (reference.md §4.3; Rush et al., AJP 2006;163:1905).
STAR_D_REMISSION = (0.368, 0.306, 0.137, 0.130)
# Relapse in naturalistic follow-up after remission at level 1 and 4: ~40% and ~71% (reference
# §4.3, Warden 2007). Levels 2 and 3 are interpolated: UNVERIFIED.
STAR_D_RELAPSE = (0.40, 0.55, 0.65, 0.71)
# Remission after a course: ECT 61.7% (PRIDE, reference §9); esketamine 22.5% at 4 weeks (§7);
# SAINT replication 50% (§8). rTMS, iTBS and IV ketamine: no figure in the reference (UNVERIFIED).
PROCEDURE_REMISSION = {
    "ECT": 0.617,
    "rTMS": 0.30,
    "iTBS": 0.30,
    "accelerated_iTBS": 0.50,
    "esketamine": 0.225,
    "IV_ketamine": 0.30,
}
# Sessions a week: rTMS/iTBS 5 (§8), SAINT 50 in 5 days (§8), ECT 3 (§9), esketamine 2 (§7),
# IV ketamine 2–3 (§7).
SESSIONS_PER_WEEK = {
    "rTMS": 5,
    "iTBS": 5,
    "accelerated_iTBS": 50,
    "ECT": 3,
    "esketamine": 2,
    "IV_ketamine": 3,
}
FIRST_LINE = ("citalopram", "sertraline", "escitalopram", "fluoxetine")
SWITCH_TO = (
    "sertraline",
    "bupropion",
    "venlafaxine",
    "mirtazapine",
    "nortriptyline",
    "duloxetine",
    "vortioxetine",
    "tranylcypromine",
    "desvenlafaxine",
)
AUGMENT_WITH = (
    "aripiprazole",
    "lithium",
    "quetiapine",
    "liothyronine",
    "brexpiprazole",
    "bupropion",
    "mirtazapine",
)
MEDICAL = ("hypothyroidism", "vitamin_d_deficiency", "anemia", "sleep_apnea", "chronic_pain")
STRESSORS = ("work stress", "bereavement", "separation", "financial strain", "caregiving")
INSTRUMENT: Literal["PHQ-9"] = "PHQ-9"
LOST_REASON = "patient_preference"  # engine.reasons: the patient's choice (stopped attending)
Span = tuple[int, int]
Ending = Literal["horizon", "follow_up_done", "dropout", "final", "max_steps", "no_enabled_move"]
M = TypeVar("M", bound=BaseModel)


class SimParams(BaseModel):
    """What the synthetic cohort looks like. Prevalences are per patient, rates per step.

    Remission per step and relapse come from STAR*D (reference.md §4.3), course remission from
    §7–§9; the prevalences of pseudo-resistance, intolerance, dropout and risk are illustrative
    defaults for load and demos (UNVERIFIED: the reference gives none), set them to your clinic.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    patients: int = Field(default=2000, ge=1)
    seed: int = 0
    end: dt.date = Field(description="the simulation's today: nothing is dated after it")
    enroll_days: int = Field(default=540, ge=1, description="enrollment spread over N days")
    enroll_from: dt.date | None = Field(default=None, description="default: end - enroll_days")
    follow_days: int | None = Field(default=None, ge=0, description="each story's length cap")
    maintenance_follow_days: int | None = Field(default=None, ge=0)
    id_prefix: str = Field(default="SIM-", pattern=r"^[A-Za-z0-9._-]{0,50}$")
    step_remission: tuple[float, ...] = Field(
        default=STAR_D_REMISSION,
        description="remission per treatment step 1, 2, 3, 4 (the last applies after): STAR*D "
        "36.8, 30.6, 13.7, 13.0% (reference.md §4.3)",
    )
    procedure_remission: dict[str, float] = Field(default_factory=lambda: {**PROCEDURE_REMISSION})
    nonremission_mix: tuple[float, float, float] = Field(
        default=(0.25, 0.30, 0.45), description="response, partial, none (UNVERIFIED)"
    )
    incomplete_trial: float = Field(default=0.20, ge=0, le=1, description="first trial")
    bipolar_features: float = Field(default=0.06, ge=0, le=1)
    bipolar_confirmed: float = Field(default=0.40, ge=0, le=1, description="of those worked up")
    medical_contributor: float = Field(default=0.08, ge=0, le=1)
    substance_use: float = Field(default=0.08, ge=0, le=1)
    active_stressor: float = Field(default=0.12, ge=0, le=1)
    contributor_remission_factor: float = Field(default=0.5, ge=0, le=1)
    life_threatening: float = Field(default=0.02, ge=0, le=1)
    intolerance: float = Field(default=0.10, ge=0, le=1, description="per antidepressant trial")
    dropout: float = Field(default=0.08, ge=0, le=1, description="per step")
    discharge_lost_after_days: int | None = Field(
        default=120, ge=0, description="lost to follow-up this long: closed by an override"
    )
    relapse_12m: tuple[float, ...] = STAR_D_RELAPSE
    next_line_after: int = Field(default=4, ge=1, description="failed steps before TMS/ketamine")
    max_steps: int = Field(default=8, ge=1)
    visit_days: Span = (14, 35)
    decision_days: Span = (0, 24)
    workup_days: Span = (14, 42)
    maintenance_visit_days: Span = (45, 110)

    def without_pseudo_resistance(self) -> SimParams:
        """A copy without incomplete trials, bipolar features, contributors, substance, stress."""
        names = (
            "incomplete_trial",
            "bipolar_features",
            "medical_contributor",
            "substance_use",
            "active_stressor",
        )
        return self.model_copy(update=dict.fromkeys(names, 0.0))


class SimEvent(BaseModel):
    """One dated entry of a story: a fact (an engine fact payload), a transition or an override."""

    model_config = ConfigDict(frozen=True)

    on: dt.date
    kind: Literal["fact", "transition", "override"]
    fact: dict[str, Any] | None = None
    trigger: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    guard: GuardResult | None = None
    reason_code: str | None = None
    note: str | None = None
    overridden: tuple[GuardResult, ...] = ()


class SimulatedPatient(BaseModel):
    """A simulated patient: enrollment, events in order, and where the story left them."""

    model_config = ConfigDict(frozen=True)

    patient_id: str
    enrolled_on: dt.date
    header: dict[str, Any]
    events: tuple[SimEvent, ...]
    record: PatientRecord
    state: str
    entered_state_on: dt.date
    steps: int
    remitted_step: int | None
    ended: Ending


class CohortSummary(BaseModel):
    """Counts over a simulated cohort."""

    model_config = ConfigDict(frozen=True)

    patients: int
    events: int
    by_state: dict[str, int]
    ended: dict[str, int]
    cumulative_remission: tuple[float, ...]


_set = object.__setattr__
_NO_MOVE = {
    "trigger": None,
    "from_state": None,
    "to_state": None,
    "guard": None,
    "reason_code": None,
    "note": None,
    "overridden": (),
}


def _make(cls: type[M], **values: Any) -> M:
    """A model from trusted, complete values, unvalidated (hot path; validated at the end)."""
    obj = cls.__new__(cls)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", set(values))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, dt.date) else v


class _Course:
    """The plan of one step: when it should be judged, and the score it ends on."""

    def __init__(self, start: dt.date, base: int, trial: int | None) -> None:
        self.start, self.base, self.trial, self.eval_on, self.end = start, base, trial, start, base
        self.remits: bool | None = None
        self.titrate: tuple[dt.date, float] | None = None
        self.stop: tuple[dt.date, str] | None = None
        self.dropout_on: dt.date | None = None

    def score_on(self, day: dt.date, rng: random.Random) -> int:
        """On the way from the step's first score to its last; noisy until the evaluation."""
        if day >= self.eval_on:
            return self.end
        frac = (day - self.start).days / max(1, (self.eval_on - self.start).days)
        return round(self.base + (self.end - self.base) * frac) + rng.randint(-1, 1)


class _Story:
    """One patient's story, fact by fact; the pathway's guards pick every move."""

    def __init__(self, index: int, params: SimParams, definition: Definition) -> None:
        self.rng = rng = random.Random(f"{params.seed}:{index}")
        self.p, self.d, self.cat = params, definition, definition.catalog
        self.pid = f"{params.id_prefix}{index:06d}"
        first = params.enroll_from or params.end - dt.timedelta(days=params.enroll_days)
        self.today = self.enrolled = self.entered = first + dt.timedelta(
            days=rng.randrange(params.enroll_days)
        )
        self.horizon = params.end
        if params.follow_days is not None:
            self.horizon = min(self.horizon, self.today + dt.timedelta(days=params.follow_days))
        self.horizon_reason: Ending = "horizon"
        self.rem_max = definition.parameters.remission_max.value[INSTRUMENT]
        self.relapse_min = definition.parameters.relapse_min.value[INSTRUMENT]
        self.trials: list[Trial] = []
        self.measurements: list[Measurement] = []
        self.screens: list[MDQScreen | ScoreScreen] = []
        self.labs: list[Lab] = []
        self.contributors: list[Contributor] = []
        self.procedures: list[Procedure] = []
        self.risks: list[Risk] = []
        self.events: list[SimEvent] = []
        self.state, self.step, self.score, self.n_facts = definition.initial_state, 1, 0, 0
        self.remitted_step: int | None = None
        self.ended: Ending | None = None
        self.open: set[str] = set()  # conditions present and not yet worked up
        self.risk_on: dt.date | None = None
        self.alarm = False  # something urgent was recorded: look at the pathway now
        self.last_trigger = ""
        self._facts: tuple[tuple[dt.date, int], Facts] | None = None

    # -- facts: each one joins the story's record and the engine's log --

    def add(self, fact: str, cls: type[M] | None, into: list[Any] | None, /, **fields: Any) -> None:
        if cls is not None and into is not None:
            into.append(_make(cls, **fields))
        self.n_facts += 1
        payload = {"fact": fact, **{k: _iso(v) for k, v in fields.items()}}
        self.events.append(_make(SimEvent, on=self.today, kind="fact", fact=payload, **_NO_MOVE))

    def measure(self, score: int) -> None:
        self.score = max(0, min(27, score))
        day = self.today
        self.add(
            "measurement",
            Measurement,
            self.measurements,
            date=day,
            instrument=INSTRUMENT,
            score=self.score,
        )

    def contributor(self, kind: str, status: str, note: str | None = None) -> None:
        self.add(
            "contributor",
            Contributor,
            self.contributors,
            kind=kind,
            status=status,
            date=self.today,
            note=note,
        )

    def screen(self, instrument: str, score: int, **mdq: Any) -> None:
        cls: type[BaseModel] = MDQScreen if instrument == "MDQ" else ScoreScreen
        self.add(
            "screen", cls, self.screens, date=self.today, instrument=instrument, score=score, **mdq
        )

    def lab(self, test: str, low: float, high: float, unit: str) -> None:
        value = round(self.rng.uniform(low, high), 1)
        self.add("lab", Lab, self.labs, date=self.today, test=test, value=value, unit=unit)

    def record_risk(self, suicidality: str, psychotic: bool = False) -> None:
        self.add(
            "risk",
            Risk,
            self.risks,
            date=self.today,
            suicidality=suicidality,
            psychotic_features=psychotic,
            catatonia=False,
            not_eating_or_drinking=False,
        )

    def procedure(self, kind: str, start: dt.date, sessions: int, done: bool) -> None:
        if self.procedures and self.procedures[-1].start == start:
            self.procedures.pop()  # a course's progress replaces its earlier entry
        self.add(
            "procedure",
            Procedure,
            self.procedures,
            kind=kind,
            start=start,
            end=self.today if done else None,
            sessions=sessions,
        )

    def start_trial(self, drug: str, role: str, mg: float, adherence: float | None) -> int:
        day = self.today
        dose = _make(Dose, start=day, mg_per_day=mg)
        self.trials.append(
            _make(
                Trial,
                drug=drug,
                role=role,
                start=day,
                end=None,
                doses=[dose],
                adherence=adherence,
                stop_reason=None,
                serum_level=None,
            )
        )
        self.add(
            "trial_started",
            None,
            None,
            drug=drug,
            role=role,
            start=day,
            mg_per_day=mg,
            adherence=adherence,
            serum_level=None,
        )
        return len(self.trials) - 1

    def change_dose(self, i: int, mg: float) -> None:
        t = self.trials[i]
        dose = _make(Dose, start=self.today, mg_per_day=mg)
        self.trials[i] = t.model_copy(update={"doses": [*t.doses, dose]})
        self.add("dose_changed", None, None, trial=i, **{"from": self.today}, mg_per_day=mg)

    def end_trial(self, i: int, reason: str) -> None:
        if self.trials[i].end is None:
            update = {"end": self.today, "stop_reason": reason}
            self.trials[i] = self.trials[i].model_copy(update=update)
            self.add(
                "trial_ended",
                None,
                None,
                trial=i,
                end=self.today,
                stop_reason=reason,
                adherence=None,
                serum_level=None,
            )

    # -- the record and the guards --

    def record(self) -> PatientRecord:
        return _make(
            PatientRecord,
            id=self.pid,
            sex=self.sex,
            birth_year=self.birth_year,
            episode_start=self.episode_start,
            severity=None,
            trials=list(self.trials),
            measurements=list(self.measurements),
            screens=list(self.screens),
            labs=list(self.labs),
            history=self.history,
            contributors=list(self.contributors),
            risk=self.risks[-1] if self.risks else None,
            procedures=list(self.procedures),
        )

    def facts(self) -> Facts:
        """The facts as of today (cached until a fact is recorded or the day changes)."""
        key = (self.today, self.n_facts)
        if self._facts is None or self._facts[0] != key:
            d = self.d
            facts = derive(self.record(), as_of=self.today, params=d.parameters, catalog=self.cat)
            self._facts = (key, facts)
        return self._facts[1]

    def take(self, g: GuardResult) -> None:
        if g.result != "true":  # an invariant: only enabled moves are ever taken
            raise RuntimeError(f"simulator tried {g.trigger} with guard {g.result}")
        self.events.append(
            _make(
                SimEvent,
                on=self.today,
                kind="transition",
                fact=None,
                trigger=g.trigger,
                from_state=self.state,
                to_state=g.to,
                guard=g,
                reason_code=None,
                note=None,
                overridden=(),
            )
        )
        self.state, self.entered, self.last_trigger = g.to, self.today, g.trigger

    def act(self) -> bool:
        """Evaluate the guards now; take the recommended move if there is one."""
        self.alarm = False
        facts = self.facts()
        results = guard_results(self.d, facts, self.state)
        trigger = recommend(self.d, facts, results, self.state)
        if trigger is not None:
            self.take(next(g for g in results if g.trigger == trigger))
        return trigger is not None

    def wait(self, days: int) -> bool:
        """Move the story's clock on; False (the story ends) past the horizon."""
        self.today += dt.timedelta(days=days)
        if self.today > self.horizon:
            self.ended = self.horizon_reason
            return False
        if self.risk_on is not None and self.today >= self.risk_on:
            self.risk_on, self.alarm = None, True
            self.record_risk("active", psychotic=self.rng.random() < 0.3)
        return True

    # -- doses, outcomes --

    def ad_doses(self, drug: str) -> tuple[float, float]:
        """(first, target) mg/day: half the minimum adequate dose, then 1–2× the minimum."""
        d = self.cat.drug(drug)
        if d is None or d.min_adequate_mg is None:
            raise KeyError(drug)
        m, rng = d.min_adequate_mg, d.canmat_range_mg
        hi = rng[1] if rng and rng[1] >= m else 2 * m
        return m / 2, min(hi, m * self.rng.choice((1.0, 1.0, 1.5, 2.0)))

    def aug_dose(self, drug: str) -> float:
        d = self.cat.drug(drug)
        if d is None or d.augmentation is None or d.augmentation.min_mg is None:
            raise KeyError(drug)
        m = d.augmentation.min_mg
        hi = d.canmat_range_mg[1] if d.canmat_range_mg else 2 * m
        return min(hi, m * self.rng.choice((1.0, 1.0, 1.5, 2.0)))

    def adherence(self) -> float | None:
        return None if self.rng.random() < 0.1 else round(self.rng.uniform(0.82, 1.0), 2)

    def remission_p(self, base: float) -> float:
        """Open contributors (untreated thyroid, drinking, …) hold remission back."""
        return base * (self.p.contributor_remission_factor if self.open else 1.0)

    def course(self, trial: int | None, eval_in: float, remits: bool | None = None) -> _Course:
        """Plan a step from today: judged in `eval_in` weeks, ending in remission or not."""
        c = _Course(self.today, self.score, trial)
        c.eval_on = self.today + dt.timedelta(days=round(7 * eval_in))
        if self.p.dropout and self.rng.random() < self.p.dropout:
            c.dropout_on = self.today + dt.timedelta(days=self.rng.randint(7, 70))
        rates = self.p.step_remission
        p = self.remission_p(rates[min(self.step, len(rates)) - 1])
        c.remits = self.rng.random() < p if remits is None else remits
        if c.remits:
            c.end = self.rng.randint(0, self.rem_max)
        else:
            kind = self.rng.choices(("response", "partial", "none"), self.p.nonremission_mix)[0]
            lo, hi = {"response": (0.5, 0.7), "partial": (0.25, 0.49), "none": (-0.1, 0.2)}[kind]
            # relative to the episode's first score: STAR*D entry scores stayed ~14–16 at every
            # level (reference §4.3), so a failed step does not ratchet the score down
            fall = self.rng.uniform(lo, hi)
            c.end = max(self.rem_max + 1, min(27, round(self.first_score * (1 - fall))))
        return c

    # -- enrollment --

    def enroll(self) -> _Course:
        rng, p = self.rng, self.p
        self.sex = rng.choices(("female", "male", "other", "unknown"), (64, 34, 1, 1))[0]
        self.birth_year = self.today.year - rng.randint(18, 80)
        self.episode_start = self.today - dt.timedelta(days=rng.randint(21, 900))
        bipolar = rng.random() < p.bipolar_features
        hist = bipolar and rng.random() < 0.6
        self.history = _make(
            History,
            elevated_mood=hist,
            decreased_need_for_sleep=hist and rng.random() < 0.7,
            racing_thoughts=hist and rng.random() < 0.5,
            impulsivity=hist and rng.random() < 0.4,
        )
        profile = {
            "sex": self.sex,
            "birth_year": self.birth_year,
            "episode_start": self.episode_start.isoformat(),
            "severity": None,
        }
        self.header = {"profile": profile, "history": self.history.model_dump()}
        self.first_score = rng.randint(14, 24)
        self.measure(self.first_score)
        self.record_risk("passive" if rng.random() < 0.3 else "none")
        if bipolar:
            self.open.add("bipolar_disorder")
            if rng.random() < 0.7 or not hist:
                impairment = rng.choice(("moderate", "serious"))
                self.screen("MDQ", rng.randint(7, 11), same_period=True, impairment=impairment)
        elif rng.random() < 0.5:
            self.screen("MDQ", rng.randint(0, 5), same_period=False, impairment="none")
        if rng.random() < p.medical_contributor:
            kind = rng.choice(MEDICAL)
            self.open.add(kind)
            if kind == "hypothyroidism":
                self.lab("TSH", 5.5, 12.0, "mIU/L")
            elif kind == "vitamin_d_deficiency":
                self.lab("vitamin_d_25oh", 6.0, 17.0, "ng/mL")
            elif kind == "anemia":
                self.lab("hemoglobin", 8.5, 11.5, "g/dL")
            elif kind == "sleep_apnea":
                self.screen("STOP-Bang", rng.randint(4, 7))
            else:
                self.contributor(kind, "active")
        elif rng.random() < 0.6:
            self.lab("TSH", 0.8, 3.5, "mIU/L")
        if rng.random() < p.substance_use:
            kind = rng.choice(("alcohol_use", "cannabis_use"))
            self.open.add(kind)
            if kind == "alcohol_use":
                self.screen("AUDIT-C", rng.randint(5, 10))
            else:
                self.screen("CUDIT-R", rng.randint(9, 20))
            if rng.random() < 0.3:
                self.contributor(kind, "active")
        elif rng.random() < 0.5:
            self.screen("AUDIT-C", rng.randint(0, 2))
        if rng.random() < p.active_stressor:
            self.open.add("stressor")
            self.contributor("stressor", "active", rng.choice(STRESSORS))
        if rng.random() < p.life_threatening:
            self.risk_on = self.today + dt.timedelta(days=rng.randint(14, 420))
        pattern = None
        if rng.random() < p.incomplete_trial:  # the source article's incomplete trials
            pattern = rng.choice(("short", "low_dose", "low_adherence"))
        return self.first_trial(rng.choice(FIRST_LINE), pattern)

    # -- treatment steps --

    def first_trial(self, drug: str, pattern: str | None) -> _Course:
        first, target = self.ad_doses(drug)
        weeks = self.d.parameters.min_weeks_at_adequate_dose.value
        raise_in, adherence = self.rng.randint(7, 14), self.adherence()
        if pattern == "low_dose":  # raised once, then held below the effective dose
            first, target, raise_in = first / 2, first, 14
        if pattern == "low_adherence":
            adherence = round(self.rng.uniform(0.4, 0.7), 2)
        i = self.start_trial(drug, "antidepressant", first, adherence)
        eval_in = weeks if pattern == "low_dose" else weeks + raise_in / 7
        course = self.course(i, eval_in, remits=False if pattern else None)
        course.titrate = (self.today + dt.timedelta(days=raise_in), target)
        if pattern == "short":  # three weeks instead of eight
            course.stop = (self.today + dt.timedelta(days=21), "patient_choice")
            course.end = self.early_score()
        elif pattern is None:
            self.maybe_intolerant(course)
        if course.stop is not None:
            course.eval_on = course.stop[0]
        return course

    def maybe_intolerant(self, course: _Course) -> None:
        if self.rng.random() < self.p.intolerance:
            stop = self.today + dt.timedelta(days=self.rng.randint(10, 28))
            course.stop, course.eval_on, course.remits = (stop, "side_effects"), stop, False
            course.end = self.early_score()

    def early_score(self) -> int:
        """The score when a trial stops within weeks: little changed from the step's start."""
        return max(self.rem_max + 1, round(self.score * (1 - self.rng.uniform(-0.1, 0.2))))

    def antidepressant(self, drug: str) -> _Course:
        first, target = self.ad_doses(drug)
        i = self.start_trial(drug, "antidepressant", first, self.adherence())
        self.measure(self.score)  # the new trial's baseline
        raise_in = self.rng.randint(7, 14)
        course = self.course(i, self.d.parameters.min_weeks_at_adequate_dose.value + raise_in / 7)
        course.titrate = (self.today + dt.timedelta(days=raise_in), target)
        self.maybe_intolerant(course)
        return course

    def new_drug(self, avoid_class: str | None, pool: Iterable[str]) -> str:
        used = {t.drug for t in self.trials}
        fresh = [
            n
            for n in pool
            if n not in used and getattr(self.cat.drug(n), "drug_class", None) != avoid_class
        ]
        return self.rng.choice(fresh or [n for n in SWITCH_TO if n not in used] or SWITCH_TO)

    def begin_treatment(self, facts: Facts) -> _Course:
        """Start what the treatment state just entered asks for."""
        current, aug = facts.current_trial, facts.current_augmentation
        if self.state == "complete_trial" and current is not None:
            i, trial = current.index, self.trials[current.index]
            if current.ongoing and "dose_below_effective" in current.reasons:
                self.change_dose(i, self.ad_doses(trial.drug)[1])
                return self.course(i, self.d.parameters.min_weeks_at_adequate_dose.value)
            self.end_trial(i, "other")  # restart properly (or, after side effects, another drug)
            intolerant = trial.stop_reason == "side_effects"
            return self.antidepressant(
                self.new_drug(None, FIRST_LINE + SWITCH_TO) if intolerant else trial.drug
            )
        self.step += 1
        why = {"none": "no_response", "partial": "partial_response", "response": "partial_response"}
        if aug is not None and aug.ongoing:
            self.end_trial(aug.index, why.get(current.outcome if current else "", "other"))
        if self.state == "augment" and current is not None:
            used = {t.drug for t in self.trials}
            agent = self.rng.choice([a for a in AUGMENT_WITH if a not in used] or AUGMENT_WITH[:4])
            i = self.start_trial(agent, "augmentation", self.aug_dose(agent), self.adherence())
            return self.course(i, self.d.parameters.min_weeks_augmentation.value)
        avoid = None  # switch (or any other treatment state): another class
        if current is not None:
            avoid = current.drug_class
            self.end_trial(current.index, why.get(current.outcome, "other"))
        return self.antidepressant(self.new_drug(avoid, SWITCH_TO))

    def treat(self, course: _Course) -> None:
        """Visits until the guards move the patient on (or the story ends).

        The pathway is looked at when the evaluation is due (and at every visit after), when a
        trial ended, and when something urgent was recorded.
        """
        eval_visit = course.eval_on + dt.timedelta(days=self.rng.randint(0, 7))
        for _ in range(60):
            day = self.today + dt.timedelta(days=self.rng.randint(*self.p.visit_days))
            for when in (
                course.titrate and course.titrate[0],
                course.stop and course.stop[0],
                eval_visit,
            ):
                if when and self.today < when < day:
                    day = when
            if course.dropout_on is not None and day >= course.dropout_on:
                self.lost()
                return
            if not self.wait((day - self.today).days):
                return
            if course.titrate and self.today >= course.titrate[0] and course.trial is not None:
                self.change_dose(course.trial, course.titrate[1])
                course.titrate = None
            stopped = course.stop is not None and self.today >= course.stop[0]
            if course.stop and stopped and course.trial is not None:
                self.end_trial(course.trial, course.stop[1])
                course.stop = None
            self.measure(course.score_on(self.today, self.rng))
            if (stopped or self.alarm or self.today >= course.eval_on) and self.act():
                return
        self.ended = "no_enabled_move"

    # -- procedures, decisions, work-up, maintenance --

    def procedure_course(self) -> None:
        """Referral, a wait, then weekly visits with the sessions delivered so far."""
        self.step += 1
        rng = self.rng
        if self.last_trigger == "escalate":
            kind = "ECT"
        elif self.state == "rapid_acting":
            kind = rng.choices(("esketamine", "IV_ketamine"), (70, 30))[0]
        else:
            kind = rng.choices(("rTMS", "iTBS", "ECT", "accelerated_iTBS"), (55, 25, 15, 5))[0]
        if not self.wait(rng.randint(2, 7) if kind == "ECT" else rng.randint(7, 28)):
            return
        needs = self.d.parameters.course_complete_sessions.value
        need = next((n for k, n in needs.items() if k == kind), 30)
        per_week = SESSIONS_PER_WEEK[kind]
        remits = rng.random() < self.remission_p(self.p.procedure_remission.get(kind, 0.3))
        course = self.course(None, -(-need // per_week), remits=remits)
        start, sessions = self.today, 0
        self.procedure(kind, start, 0, False)
        while sessions < need:
            if course.dropout_on is not None and self.today + dt.timedelta(7) >= course.dropout_on:
                self.lost()
                return
            if not self.wait(7):
                return
            sessions = min(need, sessions + per_week)
            if sessions >= need and self.risks and self.risks[-1].suicidality == "active":
                self.record_risk("none")  # intent gone by the end of the course (§9, CORE)
            self.procedure(kind, start, sessions, sessions >= need)
            self.measure(course.score_on(self.today, rng))
            if (sessions >= need or self.alarm) and self.act():
                return
        self.ended = "no_enabled_move"

    def lost(self) -> None:
        """Lost to follow-up: nothing more is recorded; after a while the coordinator closes the
        pathway with an override (it is the worklist that shows the patient meanwhile)."""
        after = self.p.discharge_lost_after_days
        final = next((s.id for s in self.d.states if s.kind == "final"), None)
        last, self.risk_on = self.today, None
        waited = after is not None and self.wait(after + self.rng.randint(0, 30))
        self.ended = "dropout"
        if not waited or final is None:
            return
        results = guard_results(self.d, self.facts(), self.state)
        note = f"lost to follow-up: no contact since {last.isoformat()}"
        self.events.append(
            _make(
                SimEvent,
                on=self.today,
                kind="override",
                fact=None,
                trigger=None,
                from_state=self.state,
                to_state=final,
                guard=None,
                reason_code=LOST_REASON,
                note=note,
                overridden=tuple(results),
            )
        )
        self.state, self.entered, self.ended = final, self.today, "dropout"

    def decide(self) -> None:
        """A decision visit: the recommended move, or next-line treatment after enough failures.

        When nothing is enabled yet (a trial still in progress after an escalation, say) the
        decision is looked at again at later visits: the worklist shows it as pending meanwhile.
        """
        trigger: str | None = None
        results: list[GuardResult] = []
        for _ in range(7):
            gap = self.p.decision_days if not results else self.p.visit_days
            if not self.wait(self.rng.randint(*gap)):
                return
            if results:
                self.measure(self.score)
            facts = self.facts()
            results = guard_results(self.d, facts, self.state)
            trigger = recommend(self.d, facts, results, self.state)
            if trigger is not None:
                break
        if trigger is None:
            self.ended = "no_enabled_move"
            return
        if trigger in ("augment", "switch") and self.step > self.p.next_line_after:
            kinds = self.d.state_by_id
            later = [
                g.trigger
                for g in results
                if g.result == "true"
                and g.trigger != "escalate"
                and kinds[g.to].kind == "procedure"
            ]
            trigger = self.rng.choice(later) if later else trigger
        chosen = next(g for g in results if g.trigger == trigger)
        new_step = self.d.state_by_id[chosen.to].kind in ("treatment", "procedure")
        if new_step and trigger != "complete" and self.step >= self.p.max_steps:
            self.ended = "max_steps"
            return
        self.take(chosen)

    def work_up(self) -> None:
        """The differential work-up: each open condition confirmed, ruled out or addressed."""
        if not self.wait(self.rng.randint(*self.p.workup_days)):
            return
        for cond in sorted(self.open):
            if cond == "bipolar_disorder":
                confirmed = self.rng.random() < self.p.bipolar_confirmed
                self.contributor(cond, "confirmed" if confirmed else "ruled_out")
            else:
                self.contributor(cond, "addressed")
        self.open.clear()
        if not self.act():
            self.ended = "no_enabled_move"

    def maintain(self) -> None:
        """Follow-up in remission; a relapse shows as a score at the relapse threshold."""
        if self.remitted_step is None:
            self.remitted_step = self.step
        if self.p.maintenance_follow_days is not None:
            limit = self.today + dt.timedelta(days=self.p.maintenance_follow_days)
            if limit < self.horizon:
                self.horizon, self.horizon_reason = limit, "follow_up_done"
        rates, relapse_on = self.p.relapse_12m, None
        if self.rng.random() < rates[min(self.step, len(rates)) - 1]:
            relapse_on = self.today + dt.timedelta(days=self.rng.randint(30, 365))
        while self.wait(self.rng.randint(*self.p.maintenance_visit_days)):
            if relapse_on is not None and self.today >= relapse_on:
                self.measure(self.rng.randint(self.relapse_min, self.relapse_min + 9))
            else:
                self.measure(self.rng.randint(0, min(self.rem_max + 3, self.relapse_min - 1)))
            if self.act():
                return

    def run(self, *, validate: bool) -> SimulatedPatient:
        self.treat(self.enroll())
        handlers = {
            "decision": self.decide,
            "evaluation": self.work_up,
            "continuing": self.maintain,
            "procedure": self.procedure_course,
        }
        for _ in range(200):
            if self.ended is not None:
                break
            kind = self.d.state_by_id[self.state].kind
            if kind == "final":
                self.ended = "final"
            elif kind in handlers:
                handlers[kind]()
            else:
                self.treat(self.begin_treatment(self.facts()))
        record = self.record()
        if validate:  # the story must be a valid patient record, whatever it went through
            record = PatientRecord.model_validate(record.model_dump(by_alias=True))
        return _make(
            SimulatedPatient,
            patient_id=self.pid,
            enrolled_on=self.enrolled,
            header=self.header,
            events=tuple(self.events),
            record=record,
            state=self.state,
            entered_state_on=self.entered,
            steps=self.step,
            remitted_step=self.remitted_step,
            ended=self.ended or "no_enabled_move",
        )


# ---------------------------------------------------------------------------------------------
# The pure API
# ---------------------------------------------------------------------------------------------


def simulate_patient(
    index: int, *, params: SimParams, definition: Definition, validate: bool = True
) -> SimulatedPatient:
    """Simulate patient number `index` of a cohort (deterministic for `params.seed`)."""
    return _Story(index, params, definition).run(validate=validate)


def simulate_cohort(
    params: SimParams, *, definition: Definition, validate: bool = True
) -> Iterator[SimulatedPatient]:
    """Simulate `params.patients` patients, one at a time (pure: no database).

    Each patient lives a story (trials, doses, scores, screens, labs, contributors, risk,
    procedures); at evaluation visits and decisions the pathway's guards are evaluated on the
    record so far and the clinician takes the recommended transition (or, after enough failed
    steps, another enabled one): the simulator never moves a patient itself. The story knows
    what each TRD state means clinically; the walk between states is the definition's.
    `persist` writes the result through the repository's bulk insert.
    """
    for i in range(params.patients):
        yield simulate_patient(i, params=params, definition=definition, validate=validate)


def cumulative_remission(patients: Iterable[SimulatedPatient], *, steps: int = 4) -> float:
    """Share of patients whose first remission came within `steps` treatment steps."""
    n = hit = 0
    for sp in patients:
        n += 1
        hit += sp.remitted_step is not None and sp.remitted_step <= steps
    return hit / n if n else 0.0


class Tally:
    """Counts over a stream of simulated patients, without keeping them."""

    def __init__(self) -> None:
        self.by_state: Counter[str] = Counter()
        self.ended: Counter[str] = Counter()
        self.remitted: Counter[int] = Counter()
        self.n = self.events = 0

    def add(self, sp: SimulatedPatient) -> SimulatedPatient:
        self.n += 1
        self.events += len(sp.events) + 1  # and the enrollment
        self.by_state[sp.state] += 1
        self.ended[sp.ended] += 1
        if sp.remitted_step is not None:
            self.remitted[sp.remitted_step] += 1
        return sp

    def summary(self) -> CohortSummary:
        total, cumulative = 0, []
        for k in range(1, max(4, *self.remitted, 0) + 1):
            total += self.remitted[k]
            cumulative.append(round(total / (self.n or 1), 4))
        return CohortSummary(
            patients=self.n,
            events=self.events,
            by_state=dict(sorted(self.by_state.items())),
            ended=dict(sorted(self.ended.items())),
            cumulative_remission=tuple(cumulative),
        )


def summarize(patients: Iterable[SimulatedPatient]) -> CohortSummary:
    """Counts per state and per ending, events, and cumulative remission by step."""
    tally = Tally()
    for sp in patients:
        tally.add(sp)
    return tally.summary()


# ---------------------------------------------------------------------------------------------
# Persistence: the repository's bulk insert (a batch per transaction, never a partial patient)
# ---------------------------------------------------------------------------------------------


class PersistReport(BaseModel):
    """What a simulation wrote."""

    model_config = ConfigDict(frozen=True)

    patients: int
    events: int
    seconds: float
    summary: CohortSummary | None = None

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def patient_rows(
    sp: SimulatedPatient,
    *,
    definition: Definition,
    actor: str,
    now: dt.datetime,
    as_of: dt.date,
    compute_due: bool = True,
) -> tuple[EnrollmentRow, list[EventRow]]:
    """The enrollment row and log of one simulated patient, as the services would write them."""
    from engine.enrolling import event_row
    from engine.factlog import fact_date
    from engine.repository import EnrollmentRow
    from engine.worklist import next_due_on

    pid, ref = sp.patient_id, {"id": definition.metadata.id, "version": definition.metadata.version}
    events = [
        event_row(
            pid,
            1,
            "enrolled",
            actor=actor,
            effective_on=sp.enrolled_on,
            recorded_at=now,
            payload={"definition": ref, **sp.header},
            to_state=definition.initial_state,
        )
    ]
    for v, e in enumerate(sp.events, start=2):
        if e.fact is not None:
            events.append(
                event_row(
                    pid,
                    v,
                    "fact",
                    actor=actor,
                    recorded_at=now,
                    effective_on=fact_date(e.fact) or e.on,
                    payload=e.fact,
                    fact_kind=e.fact["fact"],
                )
            )
        elif e.kind == "override":
            guards = f'{{"guards":[{",".join(g.model_dump_json() for g in e.overridden)}]}}'
            events.append(
                event_row(
                    pid,
                    v,
                    "override",
                    actor=actor,
                    effective_on=e.on,
                    recorded_at=now,
                    payload=guards,
                    from_state=e.from_state,
                    to_state=e.to_state,
                    reason_code=e.reason_code,
                    note=e.note,
                )
            )
        elif e.guard is not None:
            events.append(
                event_row(
                    pid,
                    v,
                    "transition",
                    actor=actor,
                    effective_on=e.on,
                    recorded_at=now,
                    trigger=e.trigger,
                    from_state=e.from_state,
                    to_state=e.to_state,
                    payload=f'{{"guard":{e.guard.model_dump_json()}}}',  # = dumps(model_dump)
                )
            )
    due = None
    if compute_due:
        due = next_due_on(
            sp.record,
            state=sp.state,
            entered_state_on=sp.entered_state_on,
            definition=definition,
            as_of=as_of,
        )
    head = EnrollmentRow(
        patient_id=pid,
        definition_id=ref["id"],
        definition_version=ref["version"],
        state=sp.state,
        version=len(events),
        entered_state_on=sp.entered_state_on,
        next_due_on=due,
        created_at=now,
        updated_at=now,
    )
    return head, events


def persist(
    patients: Iterable[SimulatedPatient],
    svc: Services,
    *,
    definition: Definition,
    as_of: dt.date,
    actor: str = "simulator",
    batch_size: int = 500,
    compute_due: bool = True,
    on_progress: Callable[[int], None] | None = None,
) -> PersistReport:
    """Write simulated patients through the repository's bulk insert, `batch_size` per commit."""
    import gc

    from engine.errors import FutureDate
    from pathway.errors import PathwayError

    today, now = svc.clock.today(), svc.clock.now()
    if as_of > today:
        raise FutureDate("simulation end", as_of, today)
    started, n, events = time.perf_counter(), 0, 0
    batch: list[tuple[EnrollmentRow, list[EventRow]]] = []

    def flush() -> None:
        if batch:
            with svc.uow as uow:
                taken = uow.patients.existing([head.patient_id for head, _ in batch])
                if taken:
                    raise PathwayError(
                        f"patient {min(taken)} and {len(taken) - 1} more of this simulation are "
                        "already enrolled: simulate into a fresh database or with another "
                        "id prefix (--prefix)"
                    )
                uow.patients.add_many(batch)
                uow.commit()
            batch.clear()

    paused = gc.isenabled()
    gc.disable()  # bulk object building: the cyclic collector dominates it (perf-notes)
    try:
        for sp in patients:
            batch.append(
                patient_rows(
                    sp,
                    definition=definition,
                    actor=actor,
                    now=now,
                    as_of=as_of,
                    compute_due=compute_due,
                )
            )
            n, events = n + 1, events + len(batch[-1][1])
            if len(batch) >= batch_size:
                flush()
            if on_progress is not None:
                on_progress(n)
        flush()
    finally:
        if paused:
            gc.enable()
    return PersistReport(patients=n, events=events, seconds=round(time.perf_counter() - started, 3))


def simulate(
    svc: Services,
    params: SimParams,
    *,
    definition: Definition | None = None,
    progress: bool = True,
    batch_size: int = 500,
) -> PersistReport:
    """Simulate a cohort and persist it as it is generated, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    defn = definition or svc.definitions.default
    tally = Tally()
    stream = (tally.add(sp) for sp in simulate_cohort(params, definition=defn))
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress, transient=True) as bar:
        task = bar.add_task("simulating patients", total=params.patients)
        report = persist(
            stream,
            svc,
            definition=defn,
            as_of=params.end,
            batch_size=batch_size,
            on_progress=lambda k: bar.update(task, completed=k),
        )
    return report.model_copy(update={"summary": tally.summary()})


def simulate_to(
    url: str | None,
    *,
    patients: int,
    seed: int,
    end: dt.date | None = None,
    prefix: str = "SIM-",
    progress: bool = True,
) -> PersistReport:
    """Open a database by URL (creating the schema), simulate and persist: the CLI's body."""
    from engine.db import database_url, init_db, make_engine
    from engine.services import Services
    from engine.uow import SqlUnitOfWork

    engine = make_engine(database_url(url))
    try:
        init_db(engine)
        svc = Services(SqlUnitOfWork(engine))
        day = end or svc.clock.today()
        params = SimParams(patients=patients, seed=seed, end=day, id_prefix=prefix)
        return simulate(svc, params, progress=progress)
    finally:
        engine.dispose()


def describe(report: PersistReport) -> str:
    """A few lines about a simulation: patients, events, throughput, states, remission."""
    lines = [
        f"simulated and wrote {report.patients} patients, {report.events} events, in "
        f"{report.seconds:.1f} s ({report.events_per_second:,.0f} events/s)"
    ]
    s = report.summary
    if s is not None:
        ranked = sorted(s.by_state.items(), key=lambda kv: -kv[1])
        cum = " → ".join(f"{c:.0%}" for c in s.cumulative_remission[:4])
        lines += [
            f"now in: {', '.join(f'{k} {v}' for k, v in ranked)}",
            f"cumulative remission after steps 1–4: {cum}",
        ]
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add `pathway simulate --patients N --seed S [--db URL] [--end D] [--json]` to an app."""
    import typer as _typer

    from engine.cli_common import dump_json, handle_errors, out

    def simulate_command(
        patients: int = _typer.Option(2000, "--patients", min=1, help="How many patients."),
        seed: int = _typer.Option(0, "--seed", help="Random seed: same seed, same cohort."),
        db: str | None = _typer.Option(None, "--db", help="Database URL or SQLite file."),
        end: str | None = _typer.Option(None, "--end", help="Last simulated day (today)."),
        prefix: str = _typer.Option("SIM-", "--prefix", help="Patient ids: PREFIX000000…"),
        json_out: bool = _typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Simulate a synthetic cohort through the pathway and persist it."""
        from engine.cli_engine import parse_date

        day = parse_date(end, "--end")
        report = simulate_to(
            db, patients=patients, seed=seed, end=day, prefix=prefix, progress=not json_out
        )
        if json_out:
            dump_json(
                {
                    **report.model_dump(mode="json"),
                    "events_per_second": round(report.events_per_second),
                }
            )
        else:
            out.print(describe(report), markup=False)

    app.command("simulate")(handle_errors(simulate_command))
