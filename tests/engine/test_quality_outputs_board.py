"""`pathway board` says what its days are: since entering the current state (the patients there
now), up to the as-of day, unlike the cohort diagram's days per patient over all visits."""

from __future__ import annotations

import datetime as dt

from rich.console import Console

from engine.cli.board import render
from engine.queries.board import Board, BoardRow


def test_the_board_says_what_its_days_and_due_counts_are() -> None:
    row = BoardRow(
        state="reassess",
        label="Reassess",
        kind="decision",
        patients=12,
        median_days=4.0,
        p90_days=9.5,
        with_due_item=3,
    )
    board = Board(
        as_of=dt.date(2026, 6, 1),
        definition_id=None,
        definition_version=None,
        state=None,
        rows=(row,),
        patients=12,
        with_due_item=3,
    )
    console = Console(record=True, width=200)
    render(board, console)
    text = " ".join(console.export_text().split())  # the caption wraps at the table width
    assert "Board as of 2026-06-01" in text
    assert "days: since each patient now in the state entered it, counted to 2026-06-01" in text
    assert "due: an item due by 2026-06-01" in text
