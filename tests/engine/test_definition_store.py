"""Definitions in the database (by content) and `pathway migrate` between versions (1.1)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from engine_support import EXAMPLES, registry, snapshot
from typer.testing import CliRunner

from engine.cli import app
from engine.definitions import DefinitionRegistry
from engine.errors import DefinitionConflict
from engine.services import Services
from engine.store.definition_store import fingerprint
from engine.store.fake import FakeStore
from pathway import Definition, load_definition
from pathway.record import load_record
from pathway.yamlio import definitions_dir

V1 = definitions_dir() / "trd-1.0.0.yaml"


@pytest.fixture(scope="module")
def v1() -> Definition:
    return load_definition(V1)


def _on_v1(svc: Services, v1: Definition, *names: str) -> None:
    for name in names:
        record = load_record(EXAMPLES / name, catalog=v1.catalog)
        svc.enroll(record.id, actor="t", record=record, definition=v1)


def test_enrolling_stores_the_version_once_with_its_hash(
    svc: Services, v1: Definition, trd: Definition
) -> None:
    _on_v1(svc, v1, "04-two-adequate-failures.json", "05-remission.json")
    record = load_record(EXAMPLES / "01-incomplete-trial.json", catalog=trd.catalog)
    svc.enroll(record.id, actor="t", record=record)
    rows = [(r.id, r.version, r.sha256, r.patients) for r in svc.stored_definitions()]
    assert rows == [
        ("trd", "1.0.0", fingerprint(v1)[0], 2),
        ("trd", "1.1.0", fingerprint(trd)[0], 1),
    ]
    assert fingerprint(v1)[0] != fingerprint(trd)[0]


def test_a_pinned_version_is_read_back_from_the_database(
    backend: str, make_services: Callable[..., Services], v1: Definition
) -> None:
    shared = {"store": FakeStore()} if backend == "fake" else {}  # the fake's "database"
    first = make_services(backend, **shared)
    _on_v1(first, v1, "04-two-adequate-failures.json")
    # another machine: only the shipped 1.1.0 file, no 1.0.0 anywhere on disk
    other = make_services(backend, **shared)
    assert other.definitions._pending == [] or "trd-1.0.0" not in str(other.definitions._pending)
    status = other.status("EX-04")
    assert status.definition.version == "1.0.0"
    assert {g.trigger for g in status.guards} == {"escalate", "reassess"}


def test_a_different_file_with_the_same_id_and_version_is_refused(
    svc: Services, v1: Definition, tmp_path: Path
) -> None:
    _on_v1(svc, v1, "04-two-adequate-failures.json")
    before = snapshot(svc)
    text = V1.read_text(encoding="utf-8").replace("value: 0.80", "value: 0.70", 1)
    edited = tmp_path / "trd-edited.yaml"
    edited.write_text(text, encoding="utf-8")
    for name in ("drugs.yaml", "instruments.yaml"):
        (tmp_path / name).write_text((V1.parent / name).read_text("utf-8"), "utf-8")
    same_key = load_definition(edited)
    record = load_record(EXAMPLES / "05-remission.json", catalog=v1.catalog)
    with pytest.raises(DefinitionConflict) as err:
        svc.enroll(record.id, actor="t", record=record, definition=same_key)
    assert fingerprint(v1)[0] in str(err.value) and fingerprint(same_key)[0] in str(err.value)
    assert snapshot(svc) == before
    # a registry offering that file for pinned patients is refused too
    svc.definitions = DefinitionRegistry([same_key], use_env=False)
    svc.definitions.store = svc.uow.definitions.fetch
    svc.cache = type(svc.cache)()
    with pytest.raises(DefinitionConflict):
        svc.status("EX-04")


def test_migrate_moves_each_patient_with_one_audited_event(
    svc: Services, v1: Definition, trd: Definition
) -> None:
    _on_v1(svc, v1, "04-two-adequate-failures.json", "05-remission.json")
    svc.advance("EX-04", trigger="reassess", actor="t")
    before = snapshot(svc)
    dry = svc.migrate("1.1.0", actor="dr-b", dry_run=True)
    assert dry.dry_run and [m.patient_id for m in dry.moved] == ["EX-04", "EX-05"]
    assert snapshot(svc) == before
    done = svc.migrate("1.1.0", actor="dr-b")
    assert [(m.patient_id, m.from_version) for m in done.moved] == [
        ("EX-04", "1.0.0"),
        ("EX-05", "1.0.0"),
    ]
    ex04 = next(m for m in done.moved if m.patient_id == "EX-04")
    assert ex04.new_enabled == svc.status("EX-04").enabled
    assert svc.status("EX-04").definition.version == "1.1.0"
    last = svc.history("EX-04").entries[-1]
    assert (last.kind, last.actor) == ("migrated", "dr-b")
    assert last.data is not None and last.data["from"]["version"] == "1.0.0"
    assert (last.data["old_enabled"], last.data["new_enabled"]) == (
        ex04.old_enabled,
        ex04.new_enabled,
    )
    assert "migrated from trd 1.0.0 to trd 1.1.0 in 'reassess'" in last.summary
    assert svc.verify(deep=True).ok
    again = svc.migrate("1.1.0", actor="dr-b")
    assert again.moved == [] and again.refused == []
    rows = {r.version: r.patients for r in svc.stored_definitions()}
    assert rows == {"1.0.0": 0, "1.1.0": 2}
    assert trd.key == ("trd", "1.1.0")


def test_migrate_by_state_and_refusing_removed_states(
    svc: Services, v1: Definition, tmp_path: Path
) -> None:
    _on_v1(svc, v1, "04-two-adequate-failures.json", "05-remission.json")
    svc.advance("EX-04", trigger="reassess", actor="t")
    only = svc.migrate("1.1.0", actor="t", state="reassess", dry_run=True)
    assert [m.patient_id for m in only.moved] == ["EX-04"]
    data = json.loads(json.dumps(v1.model_dump(mode="json", by_alias=True)))
    data["metadata"]["version"] = "3.0.0"
    data["states"] = [s for s in data["states"] if s["id"] != "reassess"]
    target = Definition.model_validate(data)  # a target without `reassess` (graph unchecked)
    result = svc.migrate(target, actor="t")
    assert [(f.patient_id, f.problem) for f in result.refused] == [("EX-04", "removed_state")]
    assert [m.patient_id for m in result.moved] == ["EX-05"]
    assert svc.status("EX-04").definition.version == "1.0.0"


runner = CliRunner()


def cli(*args: str, db: str) -> Any:
    return runner.invoke(app, [*args, "--db", db], env={"USER": "tester"})


def test_cli_definitions_and_migrate(sqlite_url: str) -> None:
    enrolled = cli(
        "enroll",
        "EX-04",
        "--record",
        str(EXAMPLES / "04-two-adequate-failures.json"),
        "--definition",
        str(V1),
        db=sqlite_url,
    )
    assert enrolled.exit_code == 0, enrolled.stderr
    listed = cli("definitions", "--json", db=sqlite_url)
    assert [(r["version"], r["patients"]) for r in json.loads(listed.stdout)] == [("1.0.0", 1)]
    text = cli("definitions", db=sqlite_url).stdout  # the instant says its time zone
    assert re.search(r"first used \d{4}-\d\d-\d\d \d\d:\d\d UTC", text), text
    dry = cli("migrate", "--to", "1.1.0", "--dry-run", db=sqlite_url)
    assert dry.exit_code == 0 and "would move 1 patients to trd 1.1.0" in dry.stdout
    moved = cli("migrate", "--to", "1.1.0", "--json", db=sqlite_url)
    assert moved.exit_code == 0, moved.stderr
    assert [m["patient_id"] for m in json.loads(moved.stdout)["moved"]] == ["EX-04"]
    unknown = cli("migrate", "--to", "9.9.9", db=sqlite_url)
    assert unknown.exit_code == 2 and "trd 9.9.9 is not available" in unknown.stderr
    assert registry().default.key == ("trd", "1.1.0")


def test_verify_reports_a_stored_definition_edited_in_the_database(
    sqlite_url: str, make_services: Callable[..., Services], v1: Definition
) -> None:
    svc = make_services(sqlite_url)
    _on_v1(svc, v1, "04-two-adequate-failures.json")
    assert svc.verify().ok
    with svc.uow as uow:
        uow.connection.exec_driver_sql(
            "UPDATE definition_version SET content = replace(content, '0.8', '0.5')"
        )
        uow.connection.commit()
    report = svc.verify()
    assert not report.ok
    assert report.definitions == [
        f"definition trd 1.0.0: its stored content no longer matches its sha256 "
        f"{fingerprint(v1)[0]}"
    ]


def test_the_log_pins_the_content_hash_and_verify_checks_it(
    sqlite_url: str, make_services: Callable[..., Services], v1: Definition
) -> None:
    import hashlib

    svc = make_services(sqlite_url)
    _on_v1(svc, v1, "04-two-adequate-failures.json")
    with svc.uow as uow:  # the enrolled event's payload carries the content hash
        payload = uow.connection.exec_driver_sql(
            "SELECT payload FROM event WHERE patient_id = 'EX-04' AND version = 1"
        ).scalar()
    assert json.loads(payload)["definition"]["sha256"] == fingerprint(v1)[0]
    # a coordinated edit of the stored content and its hash: the stored row is consistent
    # again, but the log (hash-chained) still names the content it was enrolled on
    with svc.uow as uow:
        conn = uow.connection
        content = conn.exec_driver_sql("SELECT content FROM definition_version").scalar()
        edited = content.replace('"value":0.8', '"value":0.5')
        assert edited != content
        sha = hashlib.sha256(edited.encode("utf-8")).hexdigest()
        conn.exec_driver_sql("UPDATE definition_version SET content = ?, sha256 = ?", (edited, sha))
        conn.commit()
    other = make_services(sqlite_url)  # another machine: 1.0.0 comes from the database
    report = other.verify()
    assert report.definitions == []  # the row agrees with itself
    assert [m.patient_id for m in report.mismatches] == ["EX-04"]
    assert "the log pinned definition trd 1.0.0 with sha256" in report.mismatches[0].problem
