"""Cohorts: simulate many patients lazily, and count what happened to them (states, endings,
cumulative remission) without keeping them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from pydantic import BaseModel, ConfigDict

from engine.simulator.models import SimulatedPatient
from engine.simulator.params import SimParams
from engine.simulator.story import simulate_patient
from pathway.definition import Definition


class CohortSummary(BaseModel):
    """Counts over a simulated cohort."""

    model_config = ConfigDict(frozen=True)

    patients: int
    events: int
    by_state: dict[str, int]
    ended: dict[str, int]
    cumulative_remission: tuple[float, ...]
    # per step k: patients who entered it, and the share of them whose first remission it was
    entered_step: tuple[int, ...] = ()
    step_remission: tuple[float, ...] = ()
    pseudo_resistance: int = 0  # patients with an incomplete first trial or a contributor
    in_progress: int = 0  # not remitted and still on the pathway at the horizon


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
        self.entered: Counter[int] = Counter()
        self.n = self.events = self.pseudo = self.going = 0

    def add(self, sp: SimulatedPatient) -> SimulatedPatient:
        self.n += 1
        self.events += len(sp.events) + 1  # and the enrollment
        self.by_state[sp.state] += 1
        self.ended[sp.ended] += 1
        self.pseudo += sp.pseudo_resistance
        self.going += sp.ended == "horizon" and sp.remitted_step is None
        last = sp.steps if sp.remitted_step is None else min(sp.steps, sp.remitted_step)
        for k in range(1, last + 1):
            self.entered[k] += 1
        if sp.remitted_step is not None:
            self.remitted[sp.remitted_step] += 1
        return sp

    def summary(self) -> CohortSummary:
        total, cumulative, per_step = 0, [], []
        steps = range(1, max(4, *self.remitted, 0) + 1)
        for k in steps:
            total += self.remitted[k]
            cumulative.append(round(total / (self.n or 1), 4))
            per_step.append(round(self.remitted[k] / (self.entered[k] or 1), 4))
        return CohortSummary(
            patients=self.n,
            events=self.events,
            by_state=dict(sorted(self.by_state.items())),
            ended=dict(sorted(self.ended.items())),
            cumulative_remission=tuple(cumulative),
            entered_step=tuple(self.entered[k] for k in steps),
            step_remission=tuple(per_step),
            pseudo_resistance=self.pseudo,
            in_progress=self.going,
        )


def summarize(patients: Iterable[SimulatedPatient]) -> CohortSummary:
    """Counts per state and per ending, events, and cumulative remission by step."""
    tally = Tally()
    for sp in patients:
        tally.add(sp)
    return tally.summary()
