"""Treatment steps of a story: doses, the planned course of each step, antidepressant trials,
augmentation, switches, and procedure courses, visit by visit until the guards move on."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable

from engine.simulator.chart import _Chart
from engine.simulator.params import AUGMENT_WITH, FIRST_LINE, SESSIONS_PER_WEEK, SWITCH_TO
from pathway.facts import Facts


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


class _Treatment(_Chart):
    """What a treatment or procedure state asks for, and the visits until its evaluation."""

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

    # -- procedures --

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
