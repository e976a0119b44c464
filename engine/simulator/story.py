"""One patient's clinical story, pure and deterministic per seed: enrollment, then decisions,
work-ups, treatment steps and maintenance, each move the one the pathway's guards enable."""

from __future__ import annotations

import datetime as dt

from engine.simulator.models import SimulatedPatient, _make
from engine.simulator.params import FIRST_LINE, MEDICAL, STRESSORS, SimParams
from engine.simulator.treatment import _Course, _Treatment
from pathway.definition import Definition
from pathway.evaluation import GuardResult, guard_results, recommend
from pathway.record import History, PatientRecord


class _Story(_Treatment):
    """One patient's story, fact by fact; the pathway's guards pick every move."""

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
        self.pseudo_resistance = pattern is not None or bool(self.open)
        return self.first_trial(rng.choice(FIRST_LINE), pattern)

    # -- decisions, work-up, maintenance --

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
        trigger = self.clinic_choice(trigger, results)
        chosen = next(g for g in results if g.trigger == trigger)
        new_step = self.d.state_by_id[chosen.to].kind in ("treatment", "procedure")
        if new_step and trigger != "complete" and self.step >= self.p.max_steps:
            self.ended = "max_steps"
            return
        self.take(chosen)

    def clinic_choice(self, recommended: str, results: list[GuardResult]) -> str:
        """The clinic's practice around next-line treatment: after `next_line_after` failed
        steps a procedure (neuromodulation, rapid-acting) over another medication step, before
        that a medication step over a procedure, whatever the recommendation; both among the
        enabled moves only (a clinician may take any enabled transition)."""
        kinds = self.d.state_by_id
        enabled = [g for g in results if g.result == "true" and g.trigger != "escalate"]
        procedures = [g.trigger for g in enabled if kinds[g.to].kind == "procedure"]
        medication = [g.trigger for g in enabled if g.trigger in ("augment", "switch")]
        late = self.step > self.p.next_line_after
        if late and recommended in ("augment", "switch") and procedures:
            return self.rng.choice(procedures)
        if not late and recommended in procedures and medication:
            return medication[0]
        return recommended

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
            pseudo_resistance=self.pseudo_resistance,
        )


def simulate_patient(
    index: int, *, params: SimParams, definition: Definition, validate: bool = True
) -> SimulatedPatient:
    """Simulate patient number `index` of a cohort (deterministic for `params.seed`)."""
    return _Story(index, params, definition).run(validate=validate)
