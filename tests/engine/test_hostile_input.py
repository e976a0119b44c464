"""Hostile, broken and implausible input through the command line (issue 13): each case is
refused with exit 2, a message naming the file or field and the rule, nothing written, and no
patient data echoed. Every one of them was accepted, hung or exited 1 before."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from engine.cli import app

runner = CliRunner()
TODAY = dt.date.today()


def day(n: int) -> str:
    return (TODAY - dt.timedelta(days=n)).isoformat()


def cli(*args: str, db: str | None = None) -> Any:
    extra = ["--db", db] if db else []
    return runner.invoke(app, [*args, *extra], env={"USER": "tester"})


def record(pid: str = "P-1", **overrides: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": pid,
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
    rec.update(overrides)
    return rec


def count(db: str) -> int:
    engine = sa.create_engine(db)
    with engine.connect() as c:
        n = int(c.exec_driver_sql("SELECT count(*) FROM event").scalar_one())
    engine.dispose()
    return n


# -- 1. strict, bounded input ------------------------------------------------------------------


def test_a_duplicate_json_key_is_refused_not_silently_dropped(
    sqlite_url: str, tmp_path: Path
) -> None:
    text = json.dumps(record())[:-1]
    text += f', "risk": {{"date": "{day(1)}", "suicidality": "active"}}'
    text += f', "risk": {{"date": "{day(1)}", "suicidality": "none"}}}}'
    path = tmp_path / "dup.json"
    path.write_text(text, encoding="utf-8")
    result = cli("enroll", "P-1", "--record", str(path), db=sqlite_url)
    assert result.exit_code == 2, result.output
    assert "dup.json" in result.stderr and "duplicate key 'risk'" in result.stderr
    assert count(sqlite_url) == 0


def test_yaml_anchors_are_refused_in_a_record_and_aliases_bounded_in_a_definition(
    tmp_path: Path,
) -> None:
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    assert len(laughs) < 400
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(laughs, encoding="utf-8")
    started = time.monotonic()
    result = cli("assess", str(bomb))
    assert result.exit_code == 2 and "anchors and aliases are not allowed" in result.stderr
    definition = tmp_path / "bomb-def.yaml"
    definition.write_text(laughs, encoding="utf-8")
    result = cli("validate", str(definition))
    assert result.exit_code == 2 and "values (YAML aliases?)" in result.stderr, result.stderr
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("deep.json", b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
        ("deep.yaml", b"a: " + b"[" * 100_000 + b"]" * 100_000, "malformed YAML"),
        ("latin1.json", '{"id": "P-1", "note": "caf\xe9"}'.encode("latin-1"), "not UTF-8"),
        ("bigint.json", b'{"id": "P-1", "birth_year": ' + b"9" * 5000 + b"}", "20 digits"),
        ("bigint.yaml", b"id: P-1\nbirth_year: " + b"9" * 5000 + b"\n", "20 digits"),
        ("nan.json", b'{"id": "P-1", "birth_year": NaN}', "not a number JSON allows"),
        ("long.json", json.dumps({"id": "x" * 200_000}).encode(), "longer than 100,000"),
    ],
)
def test_undecodable_input_exits_2_naming_the_file(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = cli("assess", str(path))
    assert result.exit_code == 2, result.output
    assert name in result.stderr and message in result.stderr, result.stderr
    assert len(result.stderr) < 2000


def test_import_reports_each_bad_file_and_goes_on(sqlite_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "cohort"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(record("P-A")), encoding="utf-8")
    (folder / "b.json").write_bytes(b"[" * 50_000)
    (folder / "c.json").write_bytes(b'{"id": "P-C", "id": "P-D"}')
    (folder / "d.yaml").write_bytes(b"\xff\xfe garbage")
    (folder / "e.jsonl").write_text(
        json.dumps(record("P-E")) + "\n{broken\n" + json.dumps(record("P-F")) + "\n",
        encoding="utf-8",
    )
    (folder / "z.json").write_text(json.dumps(record("P-Z")), encoding="utf-8")
    result = cli("import", str(folder), db=sqlite_url)
    assert result.exit_code == 2, result.output
    for bad in ("b.json", "c.json", "d.yaml", "e.jsonl:2"):
        assert f"refused {bad}" in result.stderr, result.stderr
    assert "enrolled 4" in result.stdout  # P-A, P-E, P-F, P-Z


# -- 2. plausibility ---------------------------------------------------------------------------


def _dose(mg: float) -> dict[str, Any]:
    r = record()
    r["trials"][0]["doses"][0]["mg_per_day"] = mg
    return r


PLAUSIBILITY = [
    ("5000-mg", _dose(5000), "trials[0].doses[0].mg_per_day", "plausible maximum for sertraline"),
    ("trillion-mg", _dose(1e12), "trials[0].doses[0].mg_per_day", "less than or equal"),
    ("1e300-mg", _dose(1e300), "trials[0].doses[0].mg_per_day", "less than or equal"),
    (
        "year-1",
        record(measurements=[{"date": "0001-01-01", "instrument": "PHQ-9", "score": 3}]),
        "measurements[0].date",
        "before 1900-01-01",
    ),
    (
        "before-birth",
        record(birth_year=1990, episode_start="1985-01-01"),
        "episode_start",
        "before the birth year 1990",
    ),
    (
        "100kB-note",
        record(
            contributors=[
                {"kind": "stressor", "status": "active", "date": day(3), "note": "n" * 100_000}
            ]
        ),
        "contributors[0].note",
        "at most 500",
    ),
    (
        "control-characters",
        record(
            contributors=[
                {"kind": "stressor", "status": "active", "date": day(3), "note": "ok\x1b[2J"}
            ]
        ),
        "contributors[0].note",
        "control characters",
    ),
]


@pytest.mark.parametrize(
    ("rec", "loc", "rule"), [c[1:] for c in PLAUSIBILITY], ids=[c[0] for c in PLAUSIBILITY]
)
def test_an_implausible_value_is_refused_with_the_bound_named(
    sqlite_url: str, tmp_path: Path, rec: dict[str, Any], loc: str, rule: str
) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(rec), encoding="utf-8")
    result = cli("enroll", "P-1", "--record", str(path), db=sqlite_url)
    assert result.exit_code == 2, result.output
    assert loc in result.stderr and rule in result.stderr, result.stderr
    assert "n" * 100 not in result.stderr and "\x1b" not in result.stderr
    assert count(sqlite_url) == 0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.mark.parametrize(
    ("actor", "note"),
    [("a" * 200, "fine"), ("dr\x1b[31m", "fine"), ("dr-a", "x" * 100_000), ("dr-a", "a\x00b")],
    ids=["long-actor", "control-actor", "100kB-note", "nul-note"],
)
def test_actors_and_notes_follow_the_same_rules_on_both_databases(
    any_db: str, tmp_path: Path, actor: str, note: str
) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(record()), encoding="utf-8")
    assert cli("enroll", "P-1", "--record", str(path), db=any_db).exit_code == 0
    before = count(any_db)
    result = runner.invoke(
        app,
        [
            *("override", "P-1", "--to", "augment", "--reason", "safety", "--note", note),
            *("--actor", actor, "--db", any_db),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "\x1b" not in result.stderr and len(result.stderr) < 1000
    assert count(any_db) == before


# -- 5. privacy in output ------------------------------------------------------------------------


def test_unknown_fields_are_named_but_their_values_never_echoed(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(
        json.dumps(record(name="Jane Doe", mrn="MRN-998877", birth_date="1979-04-01")),
        encoding="utf-8",
    )
    result = cli("assess", str(path))
    assert result.exit_code == 2
    assert "unknown field 'name'" in result.stderr and "unknown field 'mrn'" in result.stderr
    for secret in ("Jane", "998877", "1979-04-01"):
        assert secret not in result.stderr


def test_a_long_value_is_shown_as_a_short_excerpt(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(record(sex="q" * 90_000)), encoding="utf-8")
    result = cli("assess", str(path))
    assert result.exit_code == 2
    assert "90,000 characters" in result.stderr and len(result.stderr) < 1000


def test_history_escapes_control_characters_already_in_the_log(sqlite_url: str) -> None:
    from engine_support import tamper

    cli("enroll", "P-1", db=sqlite_url)
    cli("override", "P-1", "--to", "augment", "--reason", "safety", "--note", "ok", db=sqlite_url)
    forged = "ok\n2026-01-01  v9   override → exited\x1b[8m"
    tamper(
        sa.create_engine(sqlite_url),
        "UPDATE event SET actor = :a WHERE kind = 'override'",
        params={"a": forged},
    )
    result = cli("history", "P-1", db=sqlite_url)
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout
    assert not any(line.startswith("2026-01-01") for line in result.stdout.splitlines())
    assert "\\n2026-01-01" in result.stdout and "\\x1b[8m" in result.stdout


def test_a_database_at_another_schema_revision_is_refused_with_the_command_to_run(
    sqlite_url: str,
) -> None:
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as c:
        c.exec_driver_sql("UPDATE alembic_version SET version_num = '0003'")
    engine.dispose()
    result = cli("status", "P-1", db=sqlite_url)
    assert result.exit_code == 2
    assert "schema revision 0003" in result.stderr and "pathway init-db" in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only files")
def test_a_read_only_database_exits_2(sqlite_url: str, tmp_path: Path) -> None:
    path = Path(sa.make_url(sqlite_url).database or "")
    path.chmod(0o400)
    result = cli("enroll", "P-1", db=sqlite_url)
    assert result.exit_code == 2, result.output


# -- fuzz: the record reader only ever exits 0 or 2 -------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
YAMLISH = st.text(
    alphabet=[*"abP-0123:{}[],&*!|>'\"#\n -?%@`\t\\", "\x00", "é", "\ufeff"], max_size=80
)


def _mutated(draw: Any) -> str:
    base = dict(record())
    key = draw(st.sampled_from([*base, "trials", "risk", "extra"]))
    base[key] = draw(json_values)
    text = json.dumps(base)
    cut = draw(st.integers(0, len(text)))
    return text[:cut] + draw(st.text(max_size=5)) + text[cut:] if draw(st.booleans()) else text


@st.composite
def documents(draw: Any) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from([".json", ".yaml"]))
    kind = draw(st.sampled_from(["mutated", "yamlish", "bytes"]))
    if kind == "mutated":
        return suffix, _mutated(draw).encode("utf-8", "surrogatepass")
    if kind == "yamlish":
        return suffix, draw(YAMLISH).encode("utf-8", "surrogatepass")
    return suffix, draw(st.binary(max_size=60))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=documents())
def test_fuzzing_the_record_reader_finds_no_exit_but_0_or_2(
    tmp_path: Path, doc: tuple[str, bytes]
) -> None:
    suffix, content = doc
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(content)
    result = cli("assess", str(path), "--as-of", TODAY.isoformat())
    assert result.exit_code in (0, 2), (result.exit_code, result.output, result.exception)


@pytest.mark.parametrize(
    "text", ["attempt to write a readonly database", "database or disk is full"]
)
def test_a_read_only_or_full_database_is_a_clear_refusal(sqlite_url: str, text: str) -> None:
    import sqlite3

    from engine.store.db import DatabaseUnavailable, clearer_error, make_engine

    engine = make_engine(sqlite_url)
    wrapped = sa.exc.OperationalError("INSERT …", {}, sqlite3.OperationalError(text))
    assert isinstance(clearer_error(wrapped, engine), DatabaseUnavailable)
    engine.dispose()
