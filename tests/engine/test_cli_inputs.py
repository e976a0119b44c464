"""Write options and --json output through the CLI: --effective before 1900 or contradicting a
fact's own date, an empty --actor, timing kept out of --json, `fhir export --json`, and dates
shown in ISO form. Each refusal exits 2, names the option or field and its value, and writes
nothing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from engine_support import snapshot
from typer.testing import CliRunner

from engine.cli import app
from engine.services import Services

runner = CliRunner()
TODAY = dt.date.today()  # the CLI runs on the system clock
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "04-two-adequate-failures.json"


def day(n: int) -> str:
    return (TODAY - dt.timedelta(days=n)).isoformat()


def cli(*args: str, db: str | None = None, stdin: str | None = None) -> Any:
    extra = ["--db", db] if db is not None else []
    return runner.invoke(app, [*args, *extra], input=stdin, env={"USER": "tester"})


def stored(url: str) -> list[Any]:
    svc = Services.from_url(url)
    try:
        return snapshot(svc)
    finally:
        svc.close()


@pytest.fixture
def db(sqlite_url: str) -> str:
    """A database with P-1 enrolled 30 days ago, no facts."""
    result = cli("enroll", "P-1", "--effective", day(30), db=sqlite_url)
    assert result.exit_code == 0, result.stderr
    return sqlite_url


def refused(result: Any, *named: str) -> None:
    """Exit 2, nothing on stdout, each of `named` in the message, no Python repr."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    for text in named:
        assert text in result.stderr, result.stderr
    assert "datetime.date" not in result.stderr


# -- 1. --effective before 1900 ---------------------------------------------------------------


def test_enroll_refuses_an_effective_date_before_1900(sqlite_url: str) -> None:
    result = cli("enroll", "P-OLD", "--effective", "1899-01-01", db=sqlite_url)
    refused(result, "--effective", "'1899-01-01'", "a date before 1900-01-01 is not plausible")
    assert stored(sqlite_url) == []


@pytest.mark.parametrize(
    "command",
    [
        ["record", "P-1", "profile", "sex=female"],
        ["advance", "P-1", "reassess"],
        ["override", "P-1", "--to", "augment", "--reason", "case_review", "--note", "MDT"],
    ],
    ids=["record", "advance", "override"],
)
def test_every_write_refuses_an_effective_date_before_1900(db: str, command: list[str]) -> None:
    before = stored(db)
    result = cli(*command, "--effective", "1899-12-31", db=db)
    refused(result, "--effective", "'1899-12-31'", "a date before 1900-01-01 is not plausible")
    assert stored(db) == before


def test_import_refuses_an_effective_date_before_1900_once(sqlite_url: str) -> None:
    result = cli("import", str(EXAMPLE), "--effective", "1800-01-01", db=sqlite_url)
    refused(result, "--effective", "'1800-01-01'", "a date before 1900-01-01 is not plausible")
    assert result.stderr.count("not plausible") == 1
    assert stored(sqlite_url) == []


def test_an_effective_date_of_1900_01_01_is_accepted(sqlite_url: str) -> None:
    result = cli("enroll", "P-1900", "--effective", "1900-01-01", "--json", db=sqlite_url)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["effective_on"] == "1900-01-01"


def test_the_library_bulk_import_refuses_it_too(sqlite_url: str) -> None:
    from pathway.errors import RecordError

    svc = Services.from_url(sqlite_url)
    try:
        with pytest.raises(RecordError, match="before 1900-01-01"):
            svc.bulk_enroll([{"id": "P-2"}], actor="t", effective=dt.date(1899, 6, 1))
        with pytest.raises(RecordError, match="before 1900-01-01"):
            svc.enroll("P-3", actor="t", effective=dt.date(1899, 6, 1))
        assert snapshot(svc) == []
    finally:
        svc.close()


# -- 3. --effective against a fact's own date -------------------------------------------------


def test_record_refuses_an_effective_date_that_contradicts_the_facts_date(db: str) -> None:
    before = stored(db)
    result = cli(
        "record",
        "P-1",
        "measurement",
        f"date={day(5)}",
        "instrument=PHQ-9",
        "score=12",
        "--effective",
        day(20),
        db=db,
    )
    refused(result, "date", f"'{day(5)}'", f"--effective is {day(20)}")
    assert stored(db) == before


def test_record_names_each_contradicting_fact_of_a_file(db: str, tmp_path: Path) -> None:
    facts = [
        {"fact": "measurement", "date": day(20), "instrument": "PHQ-9", "score": 12},
        {"fact": "measurement", "date": day(3), "instrument": "PHQ-9", "score": 10},
    ]
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(facts), encoding="utf-8")
    before = stored(db)
    result = cli("record", "P-1", "--file", str(path), "--effective", day(20), db=db)
    refused(result, "[1].date", f"'{day(3)}'", f"--effective is {day(20)}")
    assert "[0]" not in result.stderr  # the agreeing fact is not named
    assert stored(db) == before


def test_record_takes_an_effective_date_that_agrees_or_dates_an_undated_fact(db: str) -> None:
    agrees = cli(
        "record",
        "P-1",
        "measurement",
        f"date={day(5)}",
        "instrument=PHQ-9",
        "score=12",
        "--effective",
        day(5),
        "--json",
        db=db,
    )
    assert agrees.exit_code == 0, agrees.stderr
    undated = cli("record", "P-1", "profile", "sex=female", "--effective", day(9), "--json", db=db)
    assert undated.exit_code == 0, undated.stderr
    assert json.loads(undated.stdout)["entries"][0]["effective_on"] == day(9)


# -- 4. an empty --actor ----------------------------------------------------------------------


@pytest.mark.parametrize("actor", ["", "  "])
def test_an_empty_actor_is_refused_not_replaced_by_user(db: str, actor: str) -> None:
    before = stored(db)
    result = cli("record", "P-1", "profile", "sex=female", "--actor", actor, db=db)
    refused(result, "--actor", f"(got '{actor}')")
    assert stored(db) == before


def test_enroll_refuses_an_empty_actor(sqlite_url: str) -> None:
    result = cli("enroll", "P-9", "--actor", "", db=sqlite_url)
    refused(result, "--actor", "(got '')")
    assert stored(sqlite_url) == []


def test_a_given_actor_is_kept(db: str) -> None:
    result = cli("record", "P-1", "profile", "sex=female", "--actor", "dr-a", db=db)
    assert result.exit_code == 0, result.stderr
    history = json.loads(cli("history", "P-1", "--json", db=db).stdout)
    assert history["entries"][-1]["actor"] == "dr-a"


# -- 2. deterministic --json ------------------------------------------------------------------


def test_import_json_has_no_timing_and_repeats_exactly(tmp_path: Path) -> None:
    outputs = []
    for name in ("a", "b"):
        url = f"sqlite:///{tmp_path / f'{name}.db'}"
        assert cli("init-db", db=url).exit_code == 0
        result = cli("import", str(EXAMPLE), "--json", db=url)
        assert result.exit_code == 0, result.stderr
        assert result.stderr == ""
        outputs.append(result.stdout)
    assert "seconds" not in json.loads(outputs[0])
    assert outputs[0] == outputs[1]


def test_import_text_keeps_its_timing_on_stderr(sqlite_url: str) -> None:
    result = cli("import", str(EXAMPLE), db=sqlite_url)
    assert result.exit_code == 0, result.stderr
    assert " s" not in result.stdout.split("refused 0")[-1]
    assert "took" in result.stderr and result.stderr.rstrip().endswith(" s")


@pytest.fixture
def bundle(sqlite_url: str, tmp_path: Path) -> Path:
    """EX-04 exported as a FHIR Bundle file."""
    assert cli("import", str(EXAMPLE), db=sqlite_url).exit_code == 0
    result = cli("fhir", "export", "EX-04", db=sqlite_url)
    assert result.exit_code == 0, result.stderr
    path = tmp_path / "ex04.json"
    path.write_text(result.stdout, encoding="utf-8")
    return path


def test_fhir_import_json_has_no_timing_and_repeats_exactly(bundle: Path) -> None:
    first = cli("fhir", "import", str(bundle), "--dry-run", "--json")
    second = cli("fhir", "import", str(bundle), "--dry-run", "--json")
    assert first.exit_code == 0, first.stderr
    assert "seconds" not in json.loads(first.stdout)
    assert first.stdout == second.stdout


def test_fhir_import_text_keeps_its_timing_on_stderr(bundle: Path) -> None:
    result = cli("fhir", "import", str(bundle), "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.rstrip().endswith("resources")
    assert "took" in result.stderr


def test_fhir_export_json_is_the_bundle(sqlite_url: str, bundle: Path) -> None:
    result = cli("fhir", "export", "EX-04", "--json", db=sqlite_url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == bundle.read_text(encoding="utf-8")
    assert json.loads(result.stdout)["resourceType"] == "Bundle"


def test_fhir_export_json_errors_go_to_stderr_only(sqlite_url: str) -> None:
    result = cli("fhir", "export", "NOBODY", "--json", db=sqlite_url)
    refused(result, "NOBODY")


def test_fhir_plandefinition_takes_json() -> None:
    result = cli("fhir", "plandefinition", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["resourceType"] == "PlanDefinition"


# -- 6. dates in messages are ISO, not Python reprs --------------------------------------------


def test_a_yaml_date_is_shown_in_iso_form(db: str) -> None:
    before = stored(db)
    facts = "fact: measurement\ndate: 0001-01-01\ninstrument: PHQ-9\nscore: 3\n"
    result = cli("record", "P-1", "--file", "-", db=db, stdin=facts)
    refused(result, "date", "(got 0001-01-01)")
    assert stored(db) == before


def test_excerpt_shows_dates_and_date_times_in_iso_form() -> None:
    from pathway.errors import excerpt

    assert excerpt(dt.date(1, 1, 1)) == "0001-01-01"
    assert excerpt(dt.datetime(2026, 3, 1, 12, 30)) == "2026-03-01T12:30:00"
    assert excerpt("x") == "'x'"
    assert excerpt(12) == "12"


@pytest.mark.parametrize("json_out", [[], ["--json"]])
def test_deviations_refuse_a_window_that_ends_before_it_opens(db: str, json_out: list[str]) -> None:
    got = cli("deviations", "--since", day(10), "--until", day(20), *json_out, db=db)
    assert got.exit_code == 2 and got.stdout == ""
    assert f"--until: the window ends before --since {day(10)} (got '{day(20)}')" in got.stderr
    same_day = cli("deviations", "--since", day(10), "--until", day(10), "--json", db=db)
    assert same_day.exit_code == 0, same_day.stderr
