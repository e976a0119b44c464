"""What a synthetic cohort looks like: `SimParams`, its defaults with their sources, and the
vocabulary the stories draw on (drugs, contributors, stressors)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
    next_line_after: int = Field(
        default=3,
        ge=1,
        description="failed steps before TMS/ketamine: 3, as the 1.1 recommendation "
        "(neurostimulation_after_failed_trials); STAR*D's four levels were all medication",
    )
    max_steps: int = Field(default=8, ge=1)
    visit_days: Span = (14, 35)
    decision_days: Span = (0, 24)
    workup_days: Span = (14, 42)
    maintenance_visit_days: Span = (45, 110)

    @classmethod
    def star_d(cls, *, patients: int = 10_000, seed: int = 2006, end: dt.date) -> SimParams:
        """STAR*D's conditions (reference.md §4): four medication levels, no dropout, no
        pseudo-resistance, no intolerance or risk events, and a horizon long enough for
        everyone to finish (enrolled over 30 days, three years before `end`)."""
        return cls(
            patients=patients,
            seed=seed,
            end=end,
            enroll_from=end - dt.timedelta(days=3 * 365),
            enroll_days=30,
            dropout=0.0,
            intolerance=0.0,
            life_threatening=0.0,
            max_steps=4,
            next_line_after=4,
            maintenance_follow_days=0,  # the question is remission, not what follows
        ).without_pseudo_resistance()

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
