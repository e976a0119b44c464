"""The deviation report judges each move as the engine did when it was made: under the
definition version in force then (a later `pathway migrate` does not move it), and with the guards
judging from the day the state was entered (1.1: a trial that ended before does not count)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from engine_support import EXAMPLES

from engine.measures.deviations import deviations_on
from engine.services import Services
from engine.store.uow import sql_connection
from pathway import load_definition
from pathway.record import load_record
from pathway.yamlio import definitions_dir


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_svc(request: pytest.FixtureRequest, make_services: Callable[..., Services]) -> Services:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    return make_services(str(url))


def _report(svc: Services) -> dict[str, Any]:
    today = svc.clock.today()
    with svc.uow as uow:
        return deviations_on(
            sql_connection(uow, "test"), svc.definitions, today=today, until=today, measures=False
        )


def _move(svc: Services, trigger: str | None = None, to: str | None = None) -> tuple[str, str]:
    """Take a move and return (from state, the destination `status` recommended before it)."""
    before = svc.status("EX-04")
    dest = next((g.to for g in before.guards if g.trigger == before.recommended), "no move")
    if trigger is not None:
        svc.advance("EX-04", trigger=trigger, actor="t")
    else:
        assert to is not None
        svc.override("EX-04", to=to, reason="case_review", note="MDT", actor="t")
    return before.state, dest


def test_moves_are_counted_under_the_version_they_were_made_in(sql_svc: Services) -> None:
    v1 = load_definition(definitions_dir() / "trd-1.0.0.yaml")
    record = load_record(EXAMPLES / "04-two-adequate-failures.json", catalog=v1.catalog)
    sql_svc.enroll(record.id, actor="t", record=record, definition=v1)
    _move(sql_svc, "reassess")
    _move(sql_svc, "augment")
    sql_svc.migrate("1.1.0", actor="t")
    _move(sql_svc, to="reassess")
    per_version = _report(sql_svc)["per_version"]
    assert per_version["trd 1.0.0"]["moves"] == 2 and per_version["trd 1.0.0"]["overrides"] == 0
    assert per_version["trd 1.1.0"]["moves"] == 1 and per_version["trd 1.1.0"]["overrides"] == 1
    assert per_version["trd 1.0.0"]["patients"] == 0  # where the patient is pinned now
    assert per_version["trd 1.1.0"]["patients"] == 1


def test_a_move_is_judged_against_what_status_recommended_then(sql_svc: Services) -> None:
    record = load_record(EXAMPLES / "04-two-adequate-failures.json")
    sql_svc.enroll(record.id, actor="t", record=record)
    taken = [
        _move(sql_svc, "reassess"),
        _move(sql_svc, "switch"),  # not the recommended augment
        # in `switch` the trials that ended before it was entered wait for the next one:
        # nothing is recommended, so going back to reassess is against it
        _move(sql_svc, to="reassess"),
    ]
    states = ["initial_trial", "reassess", "switch"]
    assert [s for s, _ in taken] == states
    moved_to = ["reassess", "switch", "reassess"]
    expected = [
        (s, to, None if dest == "no move" else dest)
        for (s, dest), to in zip(taken, moved_to, strict=True)
        if dest != to
    ]
    against = _report(sql_svc)["against_recommendation"]
    assert [(a["from"], a["to"], a["recommended_to"]) for a in against] == expected
    assert expected == [("reassess", "switch", "augment"), ("switch", "reassess", None)]
