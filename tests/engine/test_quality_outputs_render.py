"""`pathway render --cohort` checked as a quality analyst would: the same bytes every time in
every format, counts equal to an independent count made with SQL on the event log (unfiltered
and over a window), no small count visible and none recoverable from the printed ones, legends
that say what each number is, and bad filters refused (exit 2, the option named, no file)."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import sqlite3
from collections import Counter
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import typer
from engine_support import TODAY, registry
from typer.testing import CliRunner

from engine.cli.diagrams import register
from engine.clock import FixedClock
from engine.services import Services
from engine.simulator import SimParams, simulate
from engine.store.db import init_db, make_engine
from engine.store.uow import SqlUnitOfWork
from viz.overlays import OVERRIDE

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
register(app)
runner = CliRunner()
AS_OF = TODAY.isoformat()
SINCE = (TODAY - dt.timedelta(days=120)).isoformat()
UNTIL = (TODAY - dt.timedelta(days=20)).isoformat()
Cells = dict[tuple[str, ...], int]


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args))


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A SQLite file with 150 simulated patients (small cells on most edges)."""
    path = tmp_path_factory.mktemp("quality") / "q.db"
    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    svc = Services(SqlUnitOfWork(engine), clock=FixedClock(TODAY), definitions=registry())
    simulate(svc, SimParams(patients=150, seed=7, end=TODAY), progress=False)
    svc.close()
    engine.dispose()
    yield path


def render_json(db: Path, tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / "c.json"
    result = cli("render", "--cohort", "--as-of", AS_OF, *args, "--db", str(db), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(out.read_text("utf-8"))
    return data


def sql_counts(db: Path, *, end: str, since: str | None = None) -> Cells:
    """The cohort's cells counted independently, straight from the `event` table."""
    with sqlite3.connect(db) as con:
        rows = con.execute(
            'SELECT patient_id, kind, "trigger", from_state, to_state, effective_on FROM event '
            "WHERE kind IN ('enrolled', 'transition', 'override') AND effective_on <= ? "
            "ORDER BY patient_id, version",
            (end,),
        ).fetchall()
    paths: dict[str, list[tuple[Any, ...]]] = {}
    for pid, *rest in rows:
        paths.setdefault(pid, []).append(tuple(rest))
    cells: Counter[tuple[str, ...]] = Counter()
    for moves in paths.values():
        before = [m for m in moves if since is not None and m[4] < since]
        start = before[-1][3] if before else moves[0][3]
        cells["now", moves[-1][3]] += 1
        cells["start", start] += 1
        cells["entered", start] += 1
        cells["total",] += 1
        for _kind, trigger, source, dest, day in moves[1:]:
            if since is None or day >= since:
                cells["edge", source, trigger or OVERRIDE, dest] += 1
                cells["entered", dest] += 1
    return dict(cells)


def printed(diagram: dict[str, Any]) -> tuple[Cells, set[tuple[str, ...]], list[str]]:
    """The diagram's cells (value None when hidden), the hidden ones, and every display."""
    cells: dict[tuple[str, ...], Any] = {}
    shown: list[str] = []
    total = re.search(r"Cohort of (\S+) patients", diagram["subtitle"])
    assert total is not None
    shown.append(total.group(1))
    cells["total",] = int(total.group(1).replace(",", "")) if total.group(1)[0].isdigit() else None
    for n in diagram["nodes"]:
        if n["patients"] is not None:
            cells["now", n["id"]] = n["patients"]["value"]
            cells["entered", n["id"]] = n["entered"]["value"]
            shown += [n["patients"]["display"], n["entered"]["display"]]
    for e in diagram["edges"]:
        if e["traversals"] is None:
            continue
        start = e["style"] == "start"
        key = ("start", e["dest"]) if start else ("edge", e["source"], e["trigger"], e["dest"])
        cells[key] = e["traversals"]["value"]
        shown.append(e["traversals"]["display"])
    hidden = {k for k, v in cells.items() if v is None}
    return cells, hidden, shown


def disclosed(cells: Cells, hidden: set[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Hidden cells that the flow equations pin down (exact Gauss–Jordan over fractions)."""
    states = sorted({k[1] for k in cells if k[0] == "now"})
    edges = [k for k in cells if k[0] in ("edge", "start")]
    equations: list[dict[tuple[str, ...], int]] = [
        {("now", s): 1 for s in states} | {("total",): -1},
        {k: 1 for k in edges if k[0] == "start"} | {("total",): -1},
    ]
    for s in states:
        equations.append({k: 1 for k in edges if k[-1] == s} | {("entered", s): -1})
        out = {k: 1 for k in edges if k[0] == "edge" and k[1] == s}
        equations.append(out | {("now", s): 1, ("entered", s): -1})
    order = sorted(hidden)
    rows = [[Fraction(eq.get(h, 0)) for h in order] for eq in equations]
    lead = 0
    for col in range(len(order)):
        pivot = next((r for r in range(lead, len(rows)) if rows[r][col]), None)
        if pivot is None:
            continue
        rows[lead], rows[pivot] = rows[pivot], rows[lead]
        rows[lead] = [x / rows[lead][col] for x in rows[lead]]
        for r in range(len(rows)):
            if r != lead and rows[r][col]:
                f = rows[r][col]
                rows[r] = [a - f * b for a, b in zip(rows[r], rows[lead], strict=True)]
        lead += 1
    pinned = [[j for j, x in enumerate(row) if x] for row in rows]
    return [order[js[0]] for js in pinned if len(js) == 1]


@pytest.mark.parametrize(
    "window", [(), ("--since", SINCE, "--until", UNTIL)], ids=["all", "window"]
)
def test_counts_agree_with_sql_on_the_event_log(
    db: Path, tmp_path: Path, window: tuple[str, ...]
) -> None:
    diagram = render_json(db, tmp_path, "--no-suppress", *window)
    cells, hidden, _ = printed(diagram)
    assert not hidden
    end, since = (UNTIL, SINCE) if window else (AS_OF, None)
    expected = sql_counts(db, end=end, since=since)
    assert {k: v for k, v in cells.items() if v} == expected


@pytest.mark.parametrize(
    "args",
    [(), ("--since", SINCE, "--until", UNTIL), ("--state", "maintenance"), ("--threshold", "4")],
    ids=["all", "window", "state", "threshold"],
)
def test_no_small_count_is_shown_nor_recoverable(
    db: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    threshold = int(args[1]) if args[:1] == ("--threshold",) else 10
    diagram = render_json(db, tmp_path, *args)
    cells, hidden, shown = printed(diagram)
    assert hidden  # 150 patients: small cells there are
    assert not [v for v in cells.values() if v is not None and 1 <= v <= threshold]
    assert not [
        d
        for d in shown
        if d.replace(",", "").isdigit() and 1 <= int(d.replace(",", "")) <= threshold
    ]
    assert disclosed(cells, hidden) == []
    for e in diagram["edges"]:  # a share is printed only over printed counts
        if e["conversion"] is not None:
            assert e["traversals"]["value"] is not None
    for n in diagram["nodes"]:  # a median never over a hidden number of patients
        if n["median_days"] is not None and n["median_days"]["value"] is not None:
            assert n["median_days"]["display"].endswith(" d")


def test_the_legend_says_which_day_and_window(db: Path, tmp_path: Path) -> None:
    plain = render_json(db, tmp_path)["notes"]
    assert plain[0].startswith(f"now: patients in the state at the end of {AS_OF};")
    assert f"(the current one to {AS_OF})" in plain[2]
    windowed = render_json(db, tmp_path, "--since", SINCE, "--until", UNTIL)
    assert f"moves {SINCE} to {UNTIL}" in windowed["subtitle"]
    notes = windowed["notes"]
    assert notes[0].startswith(f"now: patients in the state at the end of {UNTIL};")
    assert "entered: patients in it when the window opened, plus entries into it" in notes[0]
    assert "from the start point: patients in the state when the window opened" in notes[1]


def test_mermaid_carries_the_legend(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.mmd"
    result = cli("render", "--cohort", "--as-of", AS_OF, "--db", str(db), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    text = out.read_text("utf-8")
    legend = next(line for line in text.splitlines() if line.strip().startswith('state "Legend'))
    assert "≤10#58; between 1 and 10, hidden" in legend
    assert f"at the end of {AS_OF}" in legend
    assert "class _legend legend" in text


@pytest.mark.parametrize("suffix", ["svg", "png", "pdf", "dot", "json", "mmd"])
def test_the_same_command_writes_the_same_bytes(db: Path, tmp_path: Path, suffix: str) -> None:
    if suffix in ("svg", "png", "pdf") and shutil.which("dot") is None:
        pytest.skip("the Graphviz `dot` program is not installed")
    written = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.{suffix}"
        args = ("render", "--cohort", "--as-of", AS_OF, "--db", str(db), "-o", str(out))
        assert cli(*args).exit_code == 0
        written.append(out.read_bytes())
    assert written[0] == written[1]
    if suffix == "pdf":  # cairo stamps the second it ran: a fixed date instead
        assert b"/CreationDate (D:19700101000000Z)" in written[0]


def test_a_pdf_date_is_fixed_and_the_offsets_after_it_follow() -> None:
    """cairo stamps the local time zone (`Z`, `+14'00`): the fixed stamp is the same in UTC and
    elsewhere, and the cross-reference table and `startxref` still point at their objects."""
    import re

    from viz.graphviz_run import fixed_dates

    def pdf(stamp: bytes) -> bytes:
        head = b"%PDF-1.5\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
        info = b"2 0 obj\n<< /Producer (cairo)\n   /CreationDate (D:" + stamp + b")\n>>\nendobj\n"
        third = b"3 0 obj\n<< /Type /Pages >>\nendobj\n"
        at = [len(head[:9]), len(head), len(head) + len(info)]
        xref = b"xref\n0 4\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in at)
        body = head + info + third
        return body + xref + b"trailer\n<< /Size 4 >>\nstartxref\n%d\n%%%%EOF\n" % len(body)

    fixed = [fixed_dates(pdf(s)) for s in (b"20261206160912Z", b"20261207060912+14'00")]
    assert fixed[0] == fixed[1]  # the same bytes in any time zone
    assert b"/CreationDate (D:19700101000000Z)" in fixed[0]
    out = fixed[1]
    table = out.rindex(b"\nxref\n")
    for n, offset in enumerate(re.findall(rb"^([0-9]{10}) 00000 n", out[table:], re.M), 1):
        assert out[int(offset) :].startswith(b"%d 0 obj" % n)
    start = int(re.search(rb"startxref\n([0-9]+)", out).group(1))  # type: ignore[union-attr]
    assert out[start:].startswith(b"xref")
    assert fixed_dates(b"no date here") == b"no date here"


BAD = [
    pytest.param(
        ["--version", "9.9.9"], "--version: unknown definition version '9.9.9'", id="version"
    ),
    pytest.param(["--as-of", "2999-01-01"], "--as-of: is after today", id="future-as-of"),
    pytest.param(["--state", "nowhere"], "--state: unknown state 'nowhere'", id="state"),
    pytest.param(["--since", UNTIL, "--until", SINCE], f"opens on {UNTIL} (--since)", id="window"),
]


@pytest.mark.parametrize(("args", "message"), BAD)
@pytest.mark.parametrize("overlay", [["--cohort"]], ids=["cohort"])
def test_bad_filters_exit_2_and_write_nothing(
    db: Path, tmp_path: Path, args: list[str], message: str, overlay: list[str]
) -> None:
    out = tmp_path / "c.json"
    result = cli("render", *overlay, *args, "--db", str(db), "-o", str(out))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "2999-01-01" in result.stderr or "--as-of" not in args
    assert not out.exists()


def test_a_patient_overlay_refuses_a_future_as_of(db: Path, tmp_path: Path) -> None:
    with sqlite3.connect(db) as con:
        (patient,) = con.execute("SELECT patient_id FROM enrollment LIMIT 1").fetchone()
    out = tmp_path / "p.json"
    args = (
        "render",
        "--patient",
        patient,
        "--as-of",
        "2999-01-01",
        "--db",
        str(db),
        "-o",
        str(out),
    )
    result = cli(*args)
    assert result.exit_code == 2
    assert "--as-of: is after today" in result.stderr
    assert not out.exists()


def test_a_threshold_of_1_is_refused(db: Path, tmp_path: Path) -> None:
    """ "≤1" beside printed zeros says 1: a threshold of 1 would hide nothing."""
    out = tmp_path / "c.json"
    result = cli("render", "--cohort", "--threshold", "1", "--db", str(db), "-o", str(out))
    assert result.exit_code == 2
    assert "--threshold" in result.output + (result.stderr or "")
    assert not out.exists()
