"""The worklist's and the board's filters refuse what the database does not know (a typed error
in the library, exit 2 on the command line, 422 from the API) instead of answering "nobody due";
and the README's engine examples run as written on a fresh database."""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from engine_support import EXAMPLES, TODAY
from typer.testing import CliRunner

from engine.cli import app
from engine.clock import FixedClock
from engine.queries.board import board
from engine.queries.filters import InvalidFilter
from engine.queries.worklist import worklist
from engine.services import Services
from pathway.due import PRIORITY
from pathway.errors import PathwayError, RecordError

README = Path(__file__).resolve().parents[2] / "README.md"
runner = CliRunner()


@pytest.fixture
def clinic(sqlite_url: str, make_services: Callable[..., Services]) -> Services:
    """The shipped JSON examples enrolled (EX-01 … EX-10 but EX-03, on trd 1.1.0)."""
    svc = make_services(sqlite_url, clock=FixedClock(TODAY))
    for path in sorted(EXAMPLES.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        svc.enroll(record["id"], actor="seed", record=record, effective=dt.date(2026, 3, 1))
    return svc


def issues(exc: pytest.ExceptionInfo[InvalidFilter]) -> dict[str, tuple[Any, str]]:
    return {i.loc: (i.value, i.message) for i in exc.value.issues}


# -- the library ----------------------------------------------------------------------------


def test_an_unknown_state_is_refused_by_worklist_and_board(clinic: Services) -> None:
    for query in (worklist, board):
        with pytest.raises(InvalidFilter) as exc:
            query(clinic, as_of=TODAY, state="reasess")
        value, message = issues(exc)["state"]
        assert value == "reasess"
        assert "unknown state 'reasess' (did you mean 'reassess'?)" in message
        assert "initial_trial" in message and "maintenance" in message  # the valid ones
        assert isinstance(exc.value, RecordError) and isinstance(exc.value, PathwayError)


def test_an_unknown_definition_or_version_is_refused_by_the_board(clinic: Services) -> None:
    with pytest.raises(InvalidFilter) as exc:
        board(clinic, as_of=TODAY, definition_version="9.9.9")
    value, message = issues(exc)["definition_version"]
    assert value == "9.9.9" and "unknown definition version '9.9.9'" in message
    assert "1.1.0" in message  # the stored versions
    with pytest.raises(InvalidFilter) as exc:
        board(clinic, as_of=TODAY, definition_id="trx", definition_version="1.1.0")
    assert "did you mean 'trd'?" in issues(exc)["definition_id"][1]
    with pytest.raises(InvalidFilter) as exc:
        board(clinic, as_of=TODAY, definition_id="trd", definition_version="1.1")
    message = issues(exc)["definition_version"][1]
    assert "unknown definition version '1.1' of trd (did you mean '1.1.0'?)" in message


def test_unknown_kinds_and_bad_pages_are_refused_all_at_once(clinic: Services) -> None:
    with pytest.raises(InvalidFilter) as exc:
        worklist(clinic, as_of=TODAY, kinds=["bogus"], state="bogus", limit=-1, offset=-2)
    found = issues(exc)
    assert set(found) == {"kinds", "state", "limit", "offset"}
    assert found["kinds"][0] == "bogus" and all(k in found["kinds"][1] for k in PRIORITY)
    assert found["limit"] == (-1, "must be 1 or more (leave it out for every item)")
    for bad in ({"limit": 0}, {"kinds": []}, {"kinds": ["evaluation_due", "nap"]}):
        with pytest.raises(InvalidFilter):
            worklist(clinic, as_of=TODAY, **bad)


def test_known_filters_still_answer(clinic: Services) -> None:
    everyone = worklist(clinic, as_of=TODAY)
    assert worklist(clinic, as_of=TODAY, limit=1).items == everyone.items[:1]
    only = worklist(clinic, as_of=TODAY, kinds=["evaluation_due"], state="initial_trial")
    assert {(i.item, i.state) for i in only.items} <= {("evaluation_due", "initial_trial")}
    # a known state nobody is in: an empty answer, not an error
    assert worklist(clinic, as_of=TODAY, state="neurostimulation").items == ()
    b = board(clinic, as_of=TODAY, definition_id="trd", definition_version="1.1.0")
    assert b.patients == 9  # the JSON examples (03 is YAML)
    assert board(clinic, as_of=TODAY, state="maintenance").rows[0].state == "maintenance"


def test_a_new_database_knows_the_default_definition(
    sqlite_url: str, make_services: Callable[..., Services]
) -> None:
    svc = make_services(sqlite_url, clock=FixedClock(TODAY))
    assert board(svc, as_of=TODAY, state="reassess", definition_version="1.1.0").patients == 0
    assert worklist(svc, as_of=TODAY, state="reassess").items == ()
    with pytest.raises(InvalidFilter):
        board(svc, as_of=TODAY, state="bogus")


# -- the command line -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "option", "value"),
    [
        (["board", "--state", "bogus"], "--state", "'bogus'"),
        (["board", "--version", "9.9.9"], "--version", "'9.9.9'"),
        (["board", "--definition", "trx"], "--definition", "'trx'"),
        (["worklist", "--state", "bogus"], "--state", "'bogus'"),
        (["worklist", "--kind", "bogus"], "--kind", "'bogus'"),
        (["worklist", "--limit", "-1"], "--limit", "-1"),
        (["worklist", "--limit", "0"], "--limit", "0"),
    ],
)
def test_the_commands_exit_2_naming_the_option_and_value(
    clinic: Services, sqlite_url: str, args: list[str], option: str, value: str
) -> None:
    got = runner.invoke(app, [*args, "--db", sqlite_url, "--json"])
    assert got.exit_code == 2, got.output
    assert got.stdout == ""
    assert f"{option}: " in got.stderr and value in got.stderr
    if option in ("--state", "--kind"):
        assert "reassess" in got.stderr or "evaluation_due" in got.stderr  # the valid ones
    if option == "--version":
        assert "1.1.0" in got.stderr


def test_the_commands_answer_known_filters(clinic: Services, sqlite_url: str) -> None:
    for args in (
        ["board", "--state", "reassess", "--version", "1.1.0"],
        ["worklist", "--state", "initial_trial", "--limit", "1"],
    ):
        got = runner.invoke(app, [*args, "--db", sqlite_url, "--json"])
        assert got.exit_code == 0, got.output
        assert json.loads(got.stdout)


# -- the web API (the same queries) -------------------------------------------------------


def test_the_api_answers_an_unknown_filter_with_422(sqlite_url: str) -> None:
    from engine.web import create_app
    from engine.web.accounts import Role
    from tests.web.api.conftest import Clinic, seed

    tokens = seed(sqlite_url)
    web = Clinic(sqlite_url, create_app(sqlite_url, clock=FixedClock(TODAY)), tokens)
    try:
        c = web.api(Role.coordinator)
        for path, params, field in (
            ("/api/v1/worklist", {"state": "bogus"}, "state"),
            ("/api/v1/board", {"state": "bogus"}, "state"),
            ("/api/v1/board", {"version": "9.9.9"}, "version"),  # the parameter as sent
        ):
            r = c.get(path, params=params)
            assert r.status_code == 422, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert [e["field"] for e in r.json()["errors"]] == [field]
        assert c.get("/api/v1/worklist", params={"state": "initial_trial"}).status_code == 200
        assert c.get("/api/v1/board", params={"version": "1.1.0"}).status_code == 200
    finally:
        web.app.state.web.engine.dispose()
        web.app.state.web.accounts.engine.dispose()
        web.app.state.web.accounts.audit_engine.dispose()


# -- the README's examples ----------------------------------------------------------------


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{title}\n")
    end = text.find("\n## ", start + len(title) + 2)
    return text[start : end if end >= 0 else None]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with the examples, as the README's commands expect (cwd: ./pathway.db)."""
    (tmp_path / "examples").symlink_to(EXAMPLES, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PATHWAY_DATABASE_URL", raising=False)
    monkeypatch.delenv("PATHWAY_DEFINITIONS", raising=False)
    return tmp_path


def test_the_readme_patient_commands_run_as_written(workdir: Path) -> None:
    block = section("## Command line")
    lines = block[block.index("pathway init-db") :].splitlines()
    lines = lines[: next(i for i, ln in enumerate(lines) if ln.startswith("pathway history")) + 1]
    for line in lines:
        args = shlex.split(re.sub(r"\[[^]]*\]", "", line), comments=True)
        if args[0] == "echo":  # `echo '…' > facts.json`
            assert args[2] == ">"
            (workdir / args[3]).write_text(args[1], encoding="utf-8")
            continue
        assert args[0] == "pathway", line
        got = runner.invoke(app, args[1:], env={"USER": "tester"})
        assert got.exit_code == 0, f"{line}\n{got.output}"
    got = runner.invoke(app, ["status", "EX-04", "--json"])
    assert json.loads(got.stdout)["state"] == "augment"  # the override ran last


def test_the_readme_library_example_runs_as_written(workdir: Path) -> None:
    from engine.store.db import init_db, make_engine

    engine = make_engine("sqlite:///pathway.db")
    init_db(engine)
    engine.dispose()
    blocks = re.findall(r"```python\n(.*?)```", section("## Library"), re.S)
    assert len(blocks) == 2 and "Services" in blocks[1]
    names: dict[str, Any] = {}
    try:
        exec(compile("\n".join(blocks), str(README), "exec"), names)
        assert names["enrolled"].patient_id == "EX-04"
        assert names["moved"].version == names["enrolled"].version + 1
        assert names["svc"].status("EX-04").state == "augment"
        assert b"<svg" in names["svg"]
    finally:
        if "svc" in names:
            names["svc"].close()


def test_a_day_before_the_data_was_worked_out_is_refused_by_worklist_and_board(
    clinic: Services,
) -> None:
    # entered on 2026-03-01, items worked out on TODAY: the board as of 2026-02-01 would show
    # negative days, the worklist as of 2026-05-01 items judged with later scores
    with pytest.raises(InvalidFilter) as exc:
        board(clinic, as_of=dt.date(2026, 2, 1))
    value, message = issues(exc)["as_of"]
    assert value == "2026-02-01"
    assert message.startswith("is before 2026-03-01, the last day a patient entered a state")
    assert board(clinic, as_of=dt.date(2026, 3, 1)).patients == 9
    with pytest.raises(InvalidFilter) as exc:
        worklist(clinic, as_of=dt.date(2026, 5, 1))
    value, message = issues(exc)["as_of"]
    assert value == "2026-05-01"
    assert message.startswith(f"is before {TODAY.isoformat()}, the last day items were worked")
    assert worklist(clinic, as_of=TODAY + dt.timedelta(days=30)).items  # the future is fine
