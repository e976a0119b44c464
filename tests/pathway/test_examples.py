"""The example records in examples/ tell the source article's stories: each must recommend what
its story says (as of 2026-06-01, the date examples/README.md uses)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pathway import assess, load_record

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
AS_OF = dt.date(2026, 6, 1)

# file → (recommended, flags, treatment_resistant)
EXPECTED = {
    "01-incomplete-trial.json": ("complete", ["incomplete_trial"], False),
    "02-missed-bipolar.json": ("review", ["bipolar_features"], False),
    "03-untreated-thyroid.yaml": ("review", ["medical_contributor"], False),
    "04-two-adequate-failures.json": ("augment", [], True),
    "05-remission.json": ("remit", [], False),
    "06-active-stressor.json": ("review", ["active_stressor"], False),
    "07-life-threatening.json": ("escalate", [], True),
    # 1.1's stories (1.0 gave: remit → maintenance → remit …; switch; augment)
    "08-relapse-after-remission.json": ("optimize", [], False),
    "09-treated-bipolar-disorder.json": ("exit", ["bipolar_features"], False),
    "10-ect-course.json": ("continue_course", [], False),
}


def test_every_example_file_is_in_the_table():
    files = {p.name for p in EXAMPLES.iterdir() if p.suffix in (".json", ".yaml", ".yml")}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_recommendation_and_flags(name, trd):
    recommended, flags, resistant = EXPECTED[name]
    result = assess(EXAMPLES / name, definition=trd, as_of=AS_OF)
    assert result.recommended == recommended
    assert result.flags == flags
    assert result.treatment_resistant is resistant


def test_incomplete_trial_example_shows_both_article_patterns(trd):
    result = assess(EXAMPLES / "01-incomplete-trial.json", definition=trd, as_of=AS_OF)
    three_weeks, held_low = result.trials
    assert (three_weeks.weeks_on_drug, three_weeks.reasons) == (3.0, ["duration_short"])
    assert (held_low.drug, held_low.max_dose_mg, held_low.reasons) == (
        "venlafaxine",
        75,
        ["dose_below_effective"],
    )


def test_two_adequate_failures_example_enables_every_next_line_option(trd):
    result = assess(EXAMPLES / "04-two-adequate-failures.json", definition=trd, as_of=AS_OF)
    assert result.failed_classes == ["SNRI", "SSRI"]
    assert result.enabled == ["augment", "switch", "refer_neurostimulation", "start_rapid_acting"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_ids_are_pseudonymous_and_unique(name, trd):
    record = load_record(EXAMPLES / name, catalog=trd.catalog)
    assert record.id == f"EX-{name[:2]}"


def test_the_1_1_examples_judge_steps_and_relapse(trd):
    relapse = assess(EXAMPLES / "08-relapse-after-remission.json", definition=trd, as_of=AS_OF)
    assert relapse.current_outcome == "relapsed" and "remit" not in relapse.enabled
    ect = assess(EXAMPLES / "10-ect-course.json", definition=trd, as_of=AS_OF)
    assert ect.current_step is not None and ect.current_step.kind == "procedure"
    assert [(p.kind, p.outcome) for p in ect.procedures] == [("ECT", "response")]


def test_the_text_report_says_trial_statuses_and_outcomes_in_words(trd):
    """`pathway assess` without --json: words, not the JSON's codes."""
    from rich.console import Console

    from engine.cli.report import render_assessment

    console = Console(record=True, width=200)
    render_assessment(
        assess(EXAMPLES / "01-incomplete-trial.json", definition=trd, as_of=AS_OF), console
    )
    text = console.export_text()
    assert "sertraline (SSRI, antidepressant): inadequate: too few weeks at the effective dose" in (
        text
    )
    assert "inadequate: the dose never reached the effective dose" in text
    assert "outcome no response (PHQ-9 17→15)" in text and "outcome: no response" in text
    for code in ("duration_short", "dose_below_effective", "outcome none", "in_progress"):
        assert code not in text
