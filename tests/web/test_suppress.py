"""The quality role's board: the API's JSON hides the same cells as the page (one rule)."""

from __future__ import annotations

import datetime as dt
import json

from engine.queries.board import Board, BoardRow
from engine.web.pages.common import board_lines
from engine.web.suppress import board_hidden, suppressed_board


def _board(counts: dict[str, tuple[int, int]]) -> Board:
    rows = tuple(
        BoardRow(
            state=s,
            label=s,
            kind="treatment",
            patients=n,
            median_days=9.0,
            p90_days=20.0,
            with_due_item=d,
        )
        for s, (n, d) in counts.items()
    )
    return Board(
        as_of=dt.date(2026, 6, 1),
        definition_id="trd",
        definition_version=None,
        state=None,
        rows=rows,
        patients=sum(n for n, _ in counts.values()),
        with_due_item=sum(d for _, d in counts.values()),
    )


def test_one_small_cell_takes_a_complementary_one_with_it_in_the_api_and_on_the_page() -> None:
    # 7 alone would be hidden, but total − 40 − 50 would give it back: one more cell must go.
    board = _board({"a": (40, 20), "b": (50, 30), "c": (7, 12)})
    hide = board_hidden(board)
    assert hide[("patients", "c")] == "primary"
    assert "complementary" in {why for (col, _), why in hide.items() if col == "patients"}
    data = json.loads(suppressed_board(board))
    api_hidden = {r["state"] for r in data["rows"] if r["patients"] is None}
    api_hidden |= {"*total*"} if data["patients"] is None else set()
    page_lines, total, _ = board_lines(board, suppress=True)
    page_hidden = {line.state for line in page_lines if line.patients in ("≤10", "*")}
    page_hidden |= {"*total*"} if total in ("≤10", "*") else set()
    assert api_hidden == page_hidden == {s for (col, s) in hide if col == "patients"}
    assert all(r["median_days"] is None for r in data["rows"] if r["patients"] is None)


def test_nothing_is_hidden_when_no_count_is_small() -> None:
    board = _board({"a": (40, 0), "b": (50, 30)})
    assert board_hidden(board) == {}
    assert json.loads(suppressed_board(board))["patients"] == 90
