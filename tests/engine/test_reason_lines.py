"""The text form of a guard's reasons: what each test asked for, each distinct line once."""

from __future__ import annotations

from engine.cli.render import reason_lines
from pathway.results import reason


def test_each_test_says_what_it_asked_and_repeats_are_shown_once() -> None:
    detail = "outcome of sertraline is none: PHQ-9 20 → 18 (10% fall)"
    remission = reason("outcome", "false", detail, threshold=["remission"])
    none = reason("outcome", "true", detail, threshold=["none"])
    resistant = reason("treatment_resistant", "true", "2 failed adequate trials; needs ≥2")
    lines = reason_lines([remission, none, remission, resistant]).splitlines()
    assert lines == [
        f"[red]✘ false[/] outcome (asked: remission): {detail}",
        f"[green]✔ true[/] outcome (asked: no response): {detail}",
        "[green]✔ true[/] treatment_resistant: 2 failed adequate trials; needs ≥2",
    ]


def test_a_detail_with_brackets_is_escaped_for_rich() -> None:
    line = reason_lines([reason("lab", "false", "TSH [mIU/L] 2.1", threshold=4.5)])
    assert line == "[red]✘ false[/] lab: TSH \\[mIU/L] 2.1"
