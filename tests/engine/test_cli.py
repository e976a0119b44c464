"""The engine's commands through the CLI: output, --json, and exit 2 with nothing written on every
bad input."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from engine_support import dump, snapshot
from typer.testing import CliRunner

from engine.cli import app
from engine.services import Services
from engine.store.db import SCHEMA_REVISION

runner = CliRunner()
Record = dict[str, Any]
TODAY = dt.date.today()  # the CLI runs on the system clock


def day(n: int) -> str:
    return (TODAY - dt.timedelta(days=n)).isoformat()


def cli(*args: str, db: str) -> Any:
    return runner.invoke(app, [*args, "--db", db], env={"USER": "tester"})


@pytest.fixture
def record(tmp_path: Path) -> Path:
    """A record file: an ongoing sertraline trial started 60 days ago (window reached)."""
    rec = {
        "id": "P-0042",
        "trials": [
            {
                "drug": "sertraline",
                "start": day(60),
                "doses": [{"from": day(60), "mg_per_day": 100}],
                "adherence": 0.9,
            }
        ],
        "measurements": [{"date": day(60), "instrument": "PHQ-9", "score": 18}],
    }
    return dump(rec, tmp_path / "p-0042.json")


@pytest.fixture
def db(sqlite_url: str, record: Path) -> str:
    """A database with P-0042 enrolled 30 days ago."""
    result = cli("enroll", "P-0042", "--record", str(record), "--effective", day(30), db=sqlite_url)
    assert result.exit_code == 0, result.stderr
    return sqlite_url


def services(url: str, make: Callable[..., Services]) -> Services:
    return make(url)


def test_init_db_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    first = runner.invoke(app, ["init-db", "--db", url, "--json"])
    again = runner.invoke(app, ["init-db", "--db", url])
    assert first.exit_code == again.exit_code == 0
    assert json.loads(first.stdout) == {
        "database": url,
        "revision": SCHEMA_REVISION,
        "cohort_rollup": False,
    }
    assert "database ready" in again.stdout


def test_database_from_the_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    env = {"PATHWAY_DATABASE_URL": url, "USER": "tester"}
    assert runner.invoke(app, ["init-db"], env=env).exit_code == 0
    assert runner.invoke(app, ["enroll", "P-1"], env=env).exit_code == 0
    assert (
        json.loads(runner.invoke(app, ["status", "P-1", "--json"], env=env).stdout)["version"] == 1
    )


def test_a_patient_through_the_cli(db: str, tmp_path: Path) -> None:
    status = json.loads(cli("status", "P-0042", "--json", db=db).stdout)
    assert status["state"] == "initial_trial" and status["days_in_state"] == 30
    assert status["recommended"] == "reassess"
    assert [g["trigger"] for g in status["guards"]] == ["escalate", "reassess"]
    readable = cli("status", "P-0042", db=db)
    assert (
        "Initial antidepressant trial" in readable.stdout
        and "Recommended: reassess" in readable.stdout
    )

    moved = cli("advance", "P-0042", "reassess", "--expect-version", "3", "--json", db=db)
    assert moved.exit_code == 0, moved.stderr
    assert json.loads(moved.stdout)["to_state"] == "reassess"

    one = cli(
        "record", "P-0042", "measurement", f"date={day(1)}", "instrument=PHQ-9", "score=17", db=db
    )
    assert one.exit_code == 0, one.stderr and "PHQ-9 17" in one.stdout
    facts = dump(
        [
            {"fact": "trial_ended", "trial": 0, "end": day(0), "stop_reason": "no_response"},
            {"fact": "contributor", "kind": "stressor", "status": "ruled_out", "date": day(0)},
        ],
        tmp_path / "facts.json",
    )
    many = cli("record", "P-0042", "--file", str(facts), "--json", db=db)
    assert many.exit_code == 0, many.stderr
    assert [e["fact"] for e in json.loads(many.stdout)["entries"]] == ["trial_ended", "contributor"]

    over = cli(
        "override",
        "P-0042",
        "--to",
        "augment",
        "--reason",
        "case_review",
        "--note",
        "MDT decision",
        "--actor",
        "dr-who",
        db=db,
    )
    assert over.exit_code == 0 and "override reassess → augment" in over.stdout

    history = json.loads(cli("history", "P-0042", "--json", db=db).stdout)
    kinds = [(e["kind"], e["actor"]) for e in history["entries"] if e["kind"] != "fact"]
    assert kinds == [("enrolled", "tester"), ("transition", "tester"), ("override", "dr-who")]
    told = cli("history", "P-0042", db=db).stdout
    assert "reassess: initial_trial → reassess because" in told
    assert re.search(r"recorded \d{4}-\d\d-\d\d \d\d:\d\d UTC\)", told), told

    ok = cli("verify", "--json", db=db)
    assert ok.exit_code == 0 and json.loads(ok.stdout)["ok"] is True


BAD_INPUTS: list[tuple[str, list[str], str]] = [
    ("unknown patient", ["status", "P-404"], "unknown patient 'P-404': not enrolled"),
    ("unknown patient (write)", ["advance", "P-404", "reassess"], "unknown patient 'P-404'"),
    (
        "unknown trigger",
        ["advance", "P-0042", "swtich"],
        "'swtich' is not a transition from 'initial_trial'; allowed: escalate, reassess",
    ),
    (
        "blocked guard",
        ["advance", "P-0042", "escalate"],
        "'escalate' from 'initial_trial' is blocked (guard is false)",
    ),
    (
        "stale version",
        ["advance", "P-0042", "reassess", "--expect-version", "2"],
        "patient P-0042 changed since you read it (version 2 → 3); reload and retry",
    ),
    (
        "invalid fact",
        ["record", "P-0042", "measurement", f"date={day(1)}", "instrument=PHQ-9", "score=40"],
        "PHQ-9 score must be",
    ),
    (
        "unknown fact field",
        [
            "record",
            "P-0042",
            "measurement",
            f"date={day(1)}",
            "instrument=PHQ-9",
            "score=4",
            "scroe=5",
        ],
        "scroe",
    ),
    (
        "unknown fact kind",
        ["record", "P-0042", "measurment", "score=4"],
        "did you mean 'measurement'",
    ),
    (
        "fact making the record invalid",
        ["record", "P-0042", "dose_changed", "trial=0", f"from={day(90)}", "mg_per_day=50"],
        "trials[0].doses",
    ),
    (
        "future fact",
        ["record", "P-0042", "measurement", f"date={day(-2)}", "instrument=PHQ-9", "score=9"],
        "is in the future",
    ),
    ("future move", ["advance", "P-0042", "reassess", "--effective", day(-1)], "is in the future"),
    (
        "malformed date",
        ["advance", "P-0042", "reassess", "--effective", "yesterday"],
        "--effective: expected a date YYYY-MM-DD",
    ),
    (
        "unknown reason code",
        ["override", "P-0042", "--to", "augment", "--reason", "whim", "--note", "x"],
        "unknown override reason code 'whim'",
    ),
    (
        "unknown state",
        ["override", "P-0042", "--to", "agument", "--reason", "case_review", "--note", "x"],
        "did you mean 'augment'",
    ),
    ("already enrolled", ["enroll", "P-0042"], "patient P-0042 is already enrolled"),
    ("identifying id", ["enroll", "Jane Doe"], "a patient id is 1–64 of"),
    ("dot id", ["enroll", ".."], "a patient id is 1–64 of A-Z a-z 0-9 . _ -, not . or .."),
    ("missing record file", ["enroll", "P-7", "--record", "nope.json"], "cannot read nope.json"),
]


@pytest.mark.parametrize(
    ("args", "message"), [b[1:] for b in BAD_INPUTS], ids=[b[0] for b in BAD_INPUTS]
)
def test_every_bad_input_exits_2_names_the_problem_and_writes_nothing(
    db: str, make_services: Callable[..., Services], args: list[str], message: str
) -> None:
    svc = make_services(db)
    before = snapshot(svc)
    result = cli(*args, db=db)
    assert result.exit_code == 2, result.stdout
    assert message in result.stderr
    assert result.stdout == ""
    assert snapshot(svc) == before


def test_a_missing_database_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    result = runner.invoke(app, ["status", "P-1", "--db", str(path)])
    assert result.exit_code == 2 and "run `pathway init-db` first" in result.stderr
    assert not path.exists()


def test_verify_exits_1_on_a_mismatch(db: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(db)
    with engine.begin() as c:
        c.exec_driver_sql("UPDATE enrollment SET state = 'maintenance'")
    engine.dispose()
    result = cli("verify", db=db)
    assert result.exit_code == 1
    assert "P-0042: state is 'maintenance' but the log replays to 'initial_trial'" in result.stdout


def test_verify_and_migrate_check_print_no_progress_when_piped(db: str) -> None:
    """stderr is not a terminal here (CliRunner): no progress bar, with or without --json."""
    for args in (["verify", "--deep"], ["migrate-check", "definitions/trd.yaml"]):
        for extra in ([], ["--json"]):
            result = cli(*args, *extra, db=db)
            assert result.exit_code == 0 and result.stderr == ""


@pytest.mark.parametrize(
    ("tty", "disable", "drawn"),
    [(True, False, True), (False, False, False), (True, True, False)],
    ids=["terminal", "piped", "json"],
)
def test_the_progress_bar_is_drawn_only_on_a_terminal_without_json(
    monkeypatch: pytest.MonkeyPatch, tty: bool, disable: bool, drawn: bool
) -> None:
    import io
    import sys

    from rich.console import Console

    from engine.cli import common
    from engine.cli.patients import patients_progress

    buf = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf)
    monkeypatch.setattr(buf, "isatty", lambda: tty, raising=False)
    monkeypatch.setattr(common, "err", Console(file=buf, force_terminal=True), raising=False)
    asked: list[bool] = []

    def total() -> int:
        asked.append(True)
        return 300

    with patients_progress("verifying", disable=disable, total=total) as tick:
        for n in range(1, 301):
            tick(n)
    assert bool(buf.getvalue()) is drawn and bool(asked) is drawn


def test_import_a_folder_reports_refusals_and_exits_2(
    sqlite_url: str, tmp_path: Path, make_services: Callable[..., Services]
) -> None:
    folder = tmp_path / "records"
    folder.mkdir()
    for i in range(5):
        dump(
            {
                "id": f"P-{i}",
                "measurements": [{"date": day(3), "instrument": "PHQ-9", "score": 10 + i}],
            },
            folder / f"p{i}.json",
        )
    dump([{"id": "P-10"}, {"id": "P-11", "sex": "robot"}], folder / "list.json")
    (folder / "lines.jsonl").write_text('{"id": "P-20"}\n{"id": "P-21"}\nnot json\n')
    result = cli("import", str(folder), "--json", db=sqlite_url)
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert (report["read"], report["enrolled"]) == (10, 8)
    refused = {p["source"]: p["message"] for p in report["problems"]}
    assert set(refused) == {"list.json[1]", "lines.jsonl:3"}
    assert "sex" in refused["list.json[1]"]
    assert "refused list.json[1]" in result.stderr
    again = cli("import", str(folder / "p1.json"), "--skip-existing", "--json", db=sqlite_url)
    assert again.exit_code == 0 and json.loads(again.stdout)["skipped_existing"] == 1
    assert make_services(sqlite_url).verify().patients == 8


def test_migrate_check_lists_patients_a_new_version_would_affect(db: str, tmp_path: Path) -> None:
    from pathway.yamlio import definitions_dir

    text = (definitions_dir() / "trd.yaml").read_text(encoding="utf-8")
    new = text.replace("version: 1.1.0", "version: 2.0.0").replace(
        "    source: [initial_trial, complete_trial, switch]",
        "    source: [complete_trial, switch]",
    )
    for name in ("drugs.yaml", "instruments.yaml"):
        (tmp_path / name).write_text((definitions_dir() / name).read_text(encoding="utf-8"))
    (tmp_path / "trd2.yaml").write_text(new, encoding="utf-8")
    result = cli("migrate-check", str(tmp_path / "trd2.yaml"), "--json", db=db)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["definition"] == {"id": "trd", "version": "2.0.0"} and report["patients"] == 1
    [finding] = report["findings"]
    assert finding["patient_id"] == "P-0042" and finding["problem"] == "enabled_changed"
    assert (finding["old_enabled"], finding["new_enabled"]) == (["reassess"], [])


def test_init_db_installs_and_drops_the_cohort_rollup(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rollup.db'}"
    on = runner.invoke(app, ["init-db", "--db", url, "--cohort-rollup", "--json"])
    kept = runner.invoke(app, ["init-db", "--db", url, "--json"])
    off = runner.invoke(app, ["init-db", "--db", url, "--no-cohort-rollup", "--json"])
    assert [json.loads(r.stdout)["cohort_rollup"] for r in (on, kept, off)] == [True, True, False]


def test_init_db_rebuilds_an_older_cohort_rollup(tmp_path: Path) -> None:
    """A rollup from before the by-day tables is built again from the log by a plain init-db
    (its counters by version may predate the migration's repinning)."""
    import sqlalchemy as sa

    from engine.store.db import make_engine
    from engine.store.overlay_rollup import current

    url = f"sqlite:///{tmp_path / 'old-rollup.db'}"
    assert runner.invoke(app, ["init-db", "--db", url, "--cohort-rollup"]).exit_code == 0
    assert runner.invoke(app, ["enroll", "P-1", "--db", url]).exit_code == 0
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE cohort_stay_day")
        conn.exec_driver_sql("UPDATE cohort_edge SET n = 7")  # drifted
    again = runner.invoke(app, ["init-db", "--db", url, "--json"])
    assert json.loads(again.stdout)["cohort_rollup"] is True
    with engine.connect() as conn:
        assert current(conn)
        assert conn.execute(sa.text("SELECT n FROM cohort_edge")).scalars().all() == [1]
    engine.dispose()
