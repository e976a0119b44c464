"""`verify` finds any disagreement between a patient's row and its log; `migrate_check` finds who a
new definition version would strand or treat differently."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from engine_support import TODAY, tamper

from engine.services import Services
from pathway.loader import load_definition
from pathway.yamlio import definitions_dir


@pytest.fixture
def moved(
    make_services: Callable[..., Services],
    sqlite_url: str,
    record_factory: Callable[..., dict[str, Any]],
) -> Services:
    """P-1 enrolled 10 days ago and moved to reassess; P-2 enrolled."""
    svc = make_services(sqlite_url)
    svc.enroll(
        "P-1", actor="a", record=record_factory("P-1"), effective=TODAY - dt.timedelta(days=10)
    )
    svc.advance("P-1", trigger="reassess", actor="a")
    svc.enroll("P-2", actor="a")
    assert svc.verify(deep=True).ok
    return svc


TAMPERING = [
    (
        "state",
        "UPDATE enrollment SET state = 'augment' WHERE patient_id = 'P-1'",
        "state is 'augment' but the log replays to 'reassess'",
    ),
    (
        "version",
        "UPDATE enrollment SET version = 9 WHERE patient_id = 'P-1'",
        "version is 9 but the log has 4 events",
    ),
    (
        "lost event",
        "DELETE FROM event WHERE patient_id = 'P-1' AND version = 2",
        "event 2 has version 3",
    ),
    (
        "undeclared state",
        "UPDATE enrollment SET state = 'limbo' WHERE patient_id = 'P-2'",
        "state 'limbo' is not declared in the definition",
    ),
    (
        "forged guard",
        'UPDATE event SET payload = replace(payload, \'"result":"true"\', '
        "'\"result\":\"false\"') WHERE kind = 'transition'",
        "transition 'reassess' stored a guard that was not true",
    ),
    (
        "entry date",
        "UPDATE enrollment SET entered_state_on = '2020-01-01' WHERE patient_id = 'P-1'",
        "entered_state_on is 2020-01-01",
    ),
]


@pytest.mark.parametrize(
    ("sql", "problem"), [t[1:] for t in TAMPERING], ids=[t[0] for t in TAMPERING]
)
def test_verify_reports_tampering(moved: Services, sql: str, problem: str) -> None:
    tamper(moved.uow.engine, sql)  # type: ignore[attr-defined]
    report = moved.verify()
    assert not report.ok
    assert any(problem in m.problem for m in report.mismatches), report.mismatches


def test_verify_reports_board_counts_that_disagree_with_the_enrollments(moved: Services) -> None:
    engine = moved.uow.engine  # type: ignore[attr-defined]
    assert moved.verify().board_counts == []
    with engine.begin() as c:  # a count changed behind the triggers' back
        c.exec_driver_sql("UPDATE board_count SET patients = 7 WHERE state = 'reassess'")
    report = moved.verify()
    assert not report.ok and report.mismatches == []
    assert any(
        "reassess" in p and "is 7 but the enrollments give" in p for p in report.board_counts
    )


def test_deep_verify_replays_each_guard_from_the_facts_known_then(moved: Services) -> None:
    engine = moved.uow.engine  # type: ignore[attr-defined]
    with engine.begin() as c:  # rewrite history: the trial now started yesterday
        row = c.exec_driver_sql(
            "SELECT payload FROM event WHERE patient_id = 'P-1' AND fact_kind = 'trial_started'"
        ).scalar_one()
    data = json.loads(row)
    data["start"] = (TODAY - dt.timedelta(days=1)).isoformat()
    tamper(
        engine,
        "UPDATE event SET payload = :p WHERE patient_id = 'P-1' AND fact_kind = 'trial_started'",
        params={"p": json.dumps(data)},
    )
    report = moved.verify(deep=True)
    assert any(
        "'reassess' from 'initial_trial' replays as" in m.problem or "rebuilt record" in m.problem
        for m in report.mismatches
    )


def variant(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the TRD definition (and its catalog files) with a change applied."""
    src = definitions_dir()
    data = yaml.safe_load((src / "trd.yaml").read_text(encoding="utf-8"))
    change(data)
    for name in ("drugs.yaml", "instruments.yaml"):
        (tmp_path / name).write_text((src / name).read_text(encoding="utf-8"), encoding="utf-8")
    path = tmp_path / "trd-next.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def drop_rapid_acting(d: dict[str, Any]) -> None:
    d["metadata"]["version"] = "2.0.0"
    d["states"] = [s for s in d["states"] if s["id"] != "rapid_acting"]
    d["transitions"] = [
        t
        for t in d["transitions"]
        if t["trigger"] != "start_rapid_acting" and t["dest"] != "rapid_acting"
    ]
    for t in d["transitions"]:
        if isinstance(t["source"], list) and "rapid_acting" in t["source"]:
            t["source"].remove("rapid_acting")
    d["recommendation"]["order"] = [
        s for s in d["recommendation"]["order"] if s["trigger"] != "start_rapid_acting"
    ]


def test_migrate_check_finds_patients_in_a_removed_state(moved: Services, tmp_path: Path) -> None:
    moved.override("P-2", to="rapid_acting", reason="case_review", note="referred", actor="a")
    new = load_definition(variant(tmp_path, drop_rapid_acting))
    report = moved.migrate_check(new)
    assert report.removed_states == ["rapid_acting"] and report.patients == 2
    assert [(f.patient_id, f.problem) for f in report.findings] == [("P-2", "removed_state")]


def test_migrate_check_of_the_same_rules_finds_nothing(moved: Services, tmp_path: Path) -> None:
    def bump(d: dict[str, Any]) -> None:
        d["metadata"]["version"] = "1.0.1"

    report = moved.migrate_check(variant(tmp_path, bump))
    assert report.findings == [] and report.removed_states == []


def test_a_prefix_record_is_what_validating_the_earlier_document_gives() -> None:
    """`verify --deep` validates a patient's record once and cuts it to the facts known at
    each earlier move when only appends came since: the cut equals validating that document,
    at every move of 60 simulated patients (their logs end, trials, replace risks…)."""
    import datetime as dt

    from engine.factlog import apply, new_document
    from engine.queries.audit import _prefix_record
    from engine.replay import replay
    from engine.simulator import SimParams, patient_rows, simulate_cohort
    from pathway.record import parse_record

    defn = load_definition()
    now = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
    params = SimParams(patients=60, seed=3, end=dt.date(2026, 6, 1), enroll_days=900)
    cut = checked = 0
    for sp in simulate_cohort(params, definition=defn, validate=False):
        _, log = patient_rows(sp, definition=defn, actor="t", now=now, as_of=params.end)
        rp = replay(sp.patient_id, log)
        whole = rp.document()
        record = parse_record(whole, catalog=defn.catalog)
        doc = new_document(sp.patient_id, rp.header)
        for e in log:
            if e.kind == "fact":
                apply(doc, e.data())
            elif e.kind == "transition":
                fresh = parse_record(doc, catalog=defn.catalog)
                found = _prefix_record(doc, whole, record)
                checked += 1
                if found is not None:
                    cut += 1
                    assert found == fresh
    assert checked > 100 and 0 < cut < checked
