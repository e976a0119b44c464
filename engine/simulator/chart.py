"""A story's chart: each fact joins the patient's record and the engine's log, the guards are read
off the record, and the story's clock moves on (or the chart is closed when the patient is lost)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from pydantic import BaseModel

from engine.simulator.models import Ending, M, SimEvent, _make
from engine.simulator.params import INSTRUMENT, LOST_REASON, SimParams
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

_NO_MOVE = {
    "trigger": None,
    "from_state": None,
    "to_state": None,
    "guard": None,
    "reason_code": None,
    "note": None,
    "overridden": (),
}


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, dt.date) else v


class _Chart:
    """The state of one patient's story and what it records; `_Story` tells the story itself."""

    # the profile, set at enrollment (`_Story.enroll`)
    sex: str
    birth_year: int
    episode_start: dt.date
    history: History
    header: dict[str, Any]
    first_score: int

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
        self.pseudo_resistance = False
        self.ended: Ending | None = None
        self.open: set[str] = set()  # conditions present and not yet worked up
        self.risk_on: dt.date | None = None
        self.alarm = False  # something urgent was recorded: look at the pathway now
        self.last_trigger = ""
        self._facts: tuple[tuple[dt.date, int, str, dt.date], Facts] | None = None

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
        key = (self.today, self.n_facts, self.state, self.entered)
        if self._facts is None or self._facts[0] != key:
            d = self.d
            facts = derive(
                self.record(),
                as_of=self.today,
                params=d.parameters,
                catalog=self.cat,
                entered_state_on=d.judged_since(self.state, self.entered),
            )
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
