"""Overlay data from the engine: a patient's path and the cohort summary, checked against the
engine's own counts (history, board), against `viz.aggregate` over every patient's path, and
through the rendered diagram — on SQLite, PostgreSQL and the in-memory fake."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import statistics
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from engine_support import TODAY, registry
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import viz
from engine.clock import FixedClock
from engine.queries.board import board
from engine.queries.overlay_cohort import cohort_query, summary_of
from engine.queries.overlays import InvalidWindow, NotEnrolledYet, cohort_summary, patient_path
from engine.services import Services
from engine.simulator import SimParams, simulate
from engine.store.db import init_db, make_engine
from engine.store.fake import FakeStore, FakeUnitOfWork
from engine.store.overlay_rollup import install, installed, read_rollup, uninstall
from engine.store.overlay_rollup_sql import TABLES
from engine.store.overlay_sql import count_cohort
from engine.store.uow import SqlUnitOfWork
from engine.views import PatientHistory
from pathway import Definition, UnknownPatient, load_definition

ROOT = Path(__file__).resolve().parents[2]
MOVES = ("enrolled", "transition", "override")
V2 = "1.1.0"


def day(n: int) -> dt.date:
    """n days before TODAY."""
    return TODAY - dt.timedelta(days=n)


def second_version(folder: Path) -> Definition:
    """The TRD definition relabelled as version 1.1.0 (same states)."""
    src = ROOT / "definitions"
    for name in ("drugs.yaml", "instruments.yaml"):
        shutil.copy(src / name, folder / name)
    text = (src / "trd.yaml").read_text(encoding="utf-8")
    (folder / "trd.yaml").write_text(text.replace("version: 1.1.0", f"version: {V2}", 1), "utf-8")
    return load_definition(folder / "trd.yaml")


def by_hand(svc: Services) -> None:
    """M-0001: a back-dated walk with two overrides and a return to `reassess`.

    initial_trial 90 days (day 100 → 10), reassess 2 + 5 days, augment 3 days (day 8 → 5).
    """
    start = day(90).isoformat()
    record = {
        "id": "M-0001",
        "trials": [
            {
                "drug": "sertraline",
                "start": start,
                "doses": [{"from": start, "mg_per_day": 100}],
                "adherence": 0.9,
            }
        ],
        "measurements": [{"date": start, "instrument": "PHQ-9", "score": 18}],
    }
    svc.enroll("M-0001", actor="t", record=record, effective=day(100))
    svc.advance("M-0001", trigger="reassess", actor="t", effective=day(10))
    svc.override(
        "M-0001", to="augment", reason="case_review", note="MDT", actor="t", effective=day(8)
    )
    svc.override(
        "M-0001", to="reassess", reason="correction", note="undo", actor="t", effective=day(5)
    )


@dataclass
class Cohort:
    """A simulated cohort persisted on one backend, with every patient's history."""

    svc: Services
    histories: list[PatientHistory]

    @property
    def ids(self) -> list[str]:
        return [h.patient_id for h in self.histories]


def populate(svc: Services, folder: Path) -> Cohort:
    v2 = second_version(folder)
    svc.definitions.add(v2)
    simulate(svc, SimParams(patients=220, seed=11, end=TODAY), progress=False)
    params = SimParams(patients=60, seed=12, end=TODAY, id_prefix="V2-")
    simulate(svc, params, definition=v2, progress=False)
    by_hand(svc)
    with svc.uow as uow:
        ids = [head.patient_id for head, _ in uow.patients.iter_patients()]
    return Cohort(svc, [svc.history(i) for i in ids])


@contextlib.contextmanager
def open_db(
    request: pytest.FixtureRequest, backend: str, folder: Path, *, rollup: bool = False
) -> Iterator[tuple[Services, sa.Engine]]:
    """A fresh database (SQLite file, or a PostgreSQL schema dropped afterwards) and services on
    it; with `rollup`, the rollup is installed before anything is written."""
    admin: sa.Engine | None = None
    schema = "pw_" + uuid.uuid4().hex[:12]
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'cohort.db'}"
    else:
        base = str(request.getfixturevalue("pg_base"))
        admin = sa.create_engine(base)
        with admin.begin() as c:
            c.exec_driver_sql(f"CREATE SCHEMA {schema}")
        sep = "&" if "?" in base else "?"
        url = f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    engine = make_engine(url)
    init_db(engine)
    if rollup:
        install(engine)
    svc = Services(SqlUnitOfWork(engine), clock=FixedClock(TODAY), definitions=registry())
    try:
        yield svc, engine
    finally:
        svc.close()
        engine.dispose()
        if admin is not None:
            with admin.begin() as c:
                c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
            admin.dispose()


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=BACKENDS)
def cohort(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cohort]:
    """The cohort on SQLite, then on PostgreSQL; no rollup (the log is read)."""
    folder = tmp_path_factory.mktemp("cohort")
    with open_db(request, request.param, folder) as (svc, _):
        yield populate(svc, folder)


# -- an independent reference: walk each patient's history ----------------------------------


def reference(
    histories: Sequence[PatientHistory],
    *,
    end: dt.date,
    since: dt.date | None = None,
    state: str | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """The counts the cohort summary should have, from the histories the services return
    (under a window, the medians of the stays that ended in it)."""
    patients: Counter[str] = Counter()
    starts: Counter[str] = Counter()
    traversals: Counter[tuple[str, str, str]] = Counter()
    overrides: Counter[tuple[str, str, str]] = Counter()
    stays: defaultdict[str, list[int]] = defaultdict(list)
    opened = since or dt.date.min
    for h in histories:
        if version is not None and h.definition.version != version:
            continue
        moves = sorted(
            (e for e in h.entries if e.kind in MOVES and e.effective_on <= end),
            key=lambda e: e.version,
        )
        if not moves or (state is not None and moves[-1].to_state != state):
            continue
        before = [m for m in moves if m.effective_on < opened]
        where = str((before[-1] if before else moves[0]).to_state)
        clock = opened if before else moves[0].effective_on
        days: Counter[str] = Counter({where: 0})
        starts[where] += 1
        for m in moves:
            if m.kind == "enrolled" or m.effective_on < opened:
                continue
            days[where] += (m.effective_on - clock).days
            key = (str(m.from_state), m.trigger or viz.OVERRIDE, str(m.to_state))
            traversals[key] += 1
            overrides[key] += m.kind == "override"
            where, clock = str(m.to_state), m.effective_on
            days[where] += 0
        days[where] += (end - clock).days
        patients[where] += 1
        if since is None:
            for s, n in days.items():
                stays[s].append(n)
            continue
        # under a window: each stay that ended in it, whole (a self-loop does not end a stay)
        entered: tuple[str, dt.date] | None = None
        for m in moves:
            if m.kind != "enrolled" and m.from_state == m.to_state:
                continue
            if entered is not None and m.effective_on >= since:
                stays[entered[0]].append((m.effective_on - entered[1]).days)
            entered = (str(m.to_state), m.effective_on)
    return {
        "patients": dict(patients),
        "starts": dict(starts),
        "traversals": dict(traversals),
        "overrides": {k: n for k, n in overrides.items() if n},
        "median_days": {s: float(statistics.median(v)) for s, v in stays.items()},
        "visited": {s: len(v) for s, v in stays.items()},
    }


def counts(summary: viz.CohortSummary) -> dict[str, Any]:
    """The summary's counts, shaped like `reference`."""
    return {
        "patients": summary.patients,
        "starts": summary.starts,
        "traversals": summary.traversals,
        "overrides": summary.overrides,
        "median_days": summary.median_days,
        "visited": summary.visited,
    }


def balanced(summary: viz.CohortSummary) -> bool:
    """starts + moves in == moves out + patients there, in every state."""
    flow: Counter[str] = Counter(summary.starts)
    for (src, _, dst), n in summary.traversals.items():
        flow[dst] += n
        flow[src] -= n
    flow.subtract(summary.patients)
    return not any(flow.values()) and sum(summary.starts.values()) == summary.total


# -- the cohort ------------------------------------------------------------------------------


def test_cohort_matches_every_patients_history(cohort: Cohort) -> None:
    summary = cohort_summary(cohort.svc)
    assert summary.as_of == TODAY
    assert summary.total == len(cohort.ids) == 281
    assert counts(summary) == reference(cohort.histories, end=TODAY)
    assert balanced(summary)
    assert summary.overrides  # the simulator closes lost patients, M-0001 has two
    assert summary.overrides[("augment", viz.OVERRIDE, "reassess")] >= 1


def test_patients_per_state_are_the_boards(cohort: Cohort) -> None:
    for version in (None, "1.1.0", V2):
        summary = cohort_summary(cohort.svc, definition_version=version)
        b = board(cohort.svc, as_of=TODAY, definition_version=version)
        assert summary.patients == {r.state: r.patients for r in b.rows if r.patients}
        assert summary.total == b.patients


@pytest.mark.parametrize("as_of", [TODAY, day(150)], ids=["today", "150-days-ago"])
def test_cohort_is_the_aggregate_of_every_patients_path(cohort: Cohort, as_of: dt.date) -> None:
    paths = []
    for pid in cohort.ids:
        try:
            paths.append(patient_path(cohort.svc, pid, as_of=as_of))
        except NotEnrolledYet:
            continue
    assert 0 < len(paths) <= len(cohort.ids)
    expected = viz.aggregate(paths, as_of=as_of)
    got = cohort_summary(cohort.svc, as_of=as_of)
    assert got.model_copy(update={"filters": ""}) == expected
    assert got.total == len(paths)


WINDOWS = [
    pytest.param({"since": day(120)}, id="since"),
    pytest.param({"since": day(300), "until": day(100)}, id="since-until"),
    pytest.param({"until": day(60)}, id="until"),
    pytest.param({"as_of": day(200)}, id="as-of"),
    pytest.param({"since": TODAY}, id="since-today"),
    pytest.param({"state": "maintenance"}, id="state"),
    pytest.param({"state": "reassess", "since": day(90)}, id="state-since"),
    pytest.param({"definition_version": V2}, id="version"),
    pytest.param({"definition_version": "1.1.0", "since": day(30)}, id="version-since"),
]


@pytest.mark.parametrize("filters", WINDOWS)
def test_filters_match_the_reference(cohort: Cohort, filters: dict[str, Any]) -> None:
    summary = cohort_summary(cohort.svc, **filters)
    end = min(filters.get("until", TODAY), filters.get("as_of", TODAY))
    expected = reference(
        cohort.histories,
        end=end,
        since=filters.get("since"),
        state=filters.get("state"),
        version=filters.get("definition_version"),
    )
    assert summary.as_of == end
    assert counts(summary) == expected
    assert summary.total > 0
    assert balanced(summary)


def test_filters_are_described_under_the_title(cohort: Cohort) -> None:
    assert cohort_summary(cohort.svc).filters == ""
    s = cohort_summary(
        cohort.svc, definition_id="trd", state="augment", since=day(10), until=day(1)
    )
    assert s.filters == f"trd, all versions · in augment on {day(1)} · moves {day(10)} to {day(1)}"
    assert cohort_summary(cohort.svc, definition_version=V2).filters == f"version {V2}"


def test_a_window_inside_the_moves_counts_only_those_moves(cohort: Cohort) -> None:
    since, until = day(200), day(100)
    moves = sum(
        1
        for h in cohort.histories
        for e in h.entries
        if e.kind in ("transition", "override") and since <= e.effective_on <= until
    )
    summary = cohort_summary(cohort.svc, since=since, until=until)
    assert sum(summary.traversals.values()) == moves
    enrolled = sum(1 for h in cohort.histories if h.entries[0].effective_on <= until)
    assert summary.total == enrolled  # patients without a move in the window are in it too


def test_other_definition_ids_and_empty_cohorts(cohort: Cohort) -> None:
    empty = cohort_summary(cohort.svc, definition_id="other")
    assert empty.total == 0 and not empty.traversals and not empty.median_days
    nobody = cohort_summary(cohort.svc, state="no_such_state")
    assert nobody.total == 0
    trd = load_definition()
    for s in (empty, nobody):  # an empty cohort still draws
        diagram = viz.build(trd, cohort=s)
        assert "Cohort of 0 patients" in diagram.subtitle


def test_an_empty_window_is_refused(cohort: Cohort) -> None:
    with pytest.raises(InvalidWindow, match="opens on"):
        cohort_summary(cohort.svc, since=day(5), until=day(10))
    with pytest.raises(InvalidWindow):
        cohort_summary(cohort.svc, since=TODAY + dt.timedelta(days=1))


def test_the_fake_unit_of_work_gives_the_same_summary(cohort: Cohort) -> None:
    store = FakeStore()
    with cohort.svc.uow as uow:
        for head, events in uow.patients.iter_patients():
            store.enrollments[head.patient_id] = head
            store.events[head.patient_id] = events
    fake = Services(FakeUnitOfWork(store), clock=FixedClock(TODAY), definitions=registry())
    for filters in ({}, {"since": day(120), "state": "reassess"}, {"definition_version": V2}):
        assert cohort_summary(fake, **filters) == cohort_summary(cohort.svc, **filters)


def test_the_drawn_numbers_are_the_engines(cohort: Cohort) -> None:
    """Unsuppressed, the diagram prints the board's patients per state and the history's moves."""
    summary = cohort_summary(cohort.svc, definition_version="1.1.0")
    trd = load_definition()
    diagram = viz.build(trd, cohort=summary, suppress=False)
    b = board(cohort.svc, as_of=TODAY, definition_version="1.1.0")
    now = {r.state: r.patients for r in b.rows}
    expected = reference(cohort.histories, end=TODAY, version="1.1.0")
    for node in diagram.nodes:
        if node.id in trd.state_by_id:
            assert node.patients is not None
            assert node.patients.value == now.get(node.id, 0)
    drawn = {
        (e.source, e.trigger, e.dest): e.traversals.value
        for e in diagram.edges
        if e.traversals is not None and e.style != "start" and e.traversals.value
    }
    assert drawn == expected["traversals"]


def test_suppressed_cells_cannot_be_recovered_from_totals(cohort: Cohort) -> None:
    """With suppression on, every state's flow equation with exactly one hidden cell would
    disclose it: viz hides a second one. Check that no equation has a single hidden cell."""
    summary = cohort_summary(cohort.svc, definition_version=V2, since=day(60))
    diagram = viz.build(load_definition(), cohort=summary, threshold=10)
    hidden = [e for e in diagram.edges if e.traversals is not None and e.traversals.value is None]
    assert hidden  # 60 patients over a window of 60 days: small cells exist
    for node in diagram.nodes:
        if node.entered is None or node.patients is None:
            continue
        ins = [e.traversals for e in diagram.edges if e.dest == node.id and e.traversals]
        outs = [e.traversals for e in diagram.edges if e.source == node.id and e.traversals]
        for eq in ([*ins, node.entered], [*outs, node.patients, node.entered]):
            assert sum(c.value is None for c in eq) != 1


# -- one patient -----------------------------------------------------------------------------


def test_patient_path_by_hand(cohort: Cohort) -> None:
    path = patient_path(cohort.svc, "M-0001")
    assert path.as_of == TODAY and path.current == "reassess"
    assert [
        (s.source, s.trigger, s.dest, s.effective, s.override, s.reason) for s in path.steps
    ] == [
        ("initial_trial", "reassess", "reassess", day(10), False, None),
        ("reassess", None, "augment", day(8), True, "case_review"),
        ("augment", None, "reassess", day(5), True, "correction"),
    ]
    assert path.days == {"initial_trial": 90, "reassess": 7, "augment": 3}
    earlier = patient_path(cohort.svc, "M-0001", as_of=day(9))
    assert earlier.current == "reassess" and len(earlier.steps) == 1
    assert earlier.days == {"initial_trial": 90, "reassess": 1}


def test_patient_paths_match_their_histories(cohort: Cohort) -> None:
    for h in cohort.histories:
        path = patient_path(cohort.svc, h.patient_id)
        moves = [e for e in h.entries if e.kind in ("transition", "override")]
        assert [(s.source, s.dest, s.effective) for s in path.steps] == [
            (m.from_state, m.to_state, m.effective_on) for m in moves
        ]
        assert [s.override for s in path.steps] == [m.kind == "override" for m in moves]
        assert [s.reason for s in path.steps] == [m.reason_code for m in moves]
        assert path.current == h.state
        enrolled = h.entries[0].effective_on
        assert sum(path.days.values()) == (TODAY - enrolled).days
        assert set(path.days) == set(path.visited)


def test_patient_path_errors(cohort: Cohort) -> None:
    with pytest.raises(UnknownPatient):
        patient_path(cohort.svc, "NOPE-1")
    with pytest.raises(NotEnrolledYet, match="was enrolled on"):
        patient_path(cohort.svc, "M-0001", as_of=day(101))


def test_a_patient_path_renders(cohort: Cohort) -> None:
    diagram = viz.build(load_definition(), patient=patient_path(cohort.svc, "M-0001"))
    assert diagram.node("reassess").current
    assert diagram.node("augment").days == 3
    overrides = [e for e in diagram.edges if e.style == "override"]
    assert {tuple(e.reasons) for e in overrides} == {("case_review",), ("correction",)}


# -- the rollup: counters kept by triggers, read instead of the log where exact ---------------


@dataclass
class Rolled:
    """A cohort written with the rollup installed from the start (every write fired it)."""

    svc: Services
    engine: sa.Engine
    cohort: Cohort


@pytest.fixture(scope="module", params=BACKENDS)
def rolled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Rolled]:
    folder = tmp_path_factory.mktemp("rolled")
    with open_db(request, request.param, folder, rollup=True) as (svc, engine):
        yield Rolled(svc, engine, populate(svc, folder))


def both_ways(svc: Services, **filters: Any) -> tuple[viz.CohortSummary | None, viz.CohortSummary]:
    """The summary from the rollup (None if it declines) and from the log."""
    q = cohort_query(today=TODAY, **filters)
    with svc.uow as uow:
        conn = uow.connection  # type: ignore[attr-defined]
        fast = read_rollup(conn, q)
        slow = count_cohort(conn, q)
    return (summary_of(fast, q) if fast is not None else None), summary_of(slow, q)


def rollup_rows(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """The rollup's tables, without rows counted down to zero."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as c:
        for table in TABLES:
            rows = c.exec_driver_sql(f"SELECT * FROM {table}").all()
            count = -2 if table == "cohort_edge" else -1  # edges end with (n, last_on)
            keep = [r for r in rows if table == "cohort_patient_days" or r[count] != 0]
            out[table] = sorted(tuple(str(v) for v in r) for r in keep)
    return out


ROLLUP_FILTERS = [
    pytest.param({}, id="all"),
    pytest.param({"definition_id": "trd"}, id="id"),
    pytest.param({"definition_version": "1.1.0"}, id="v1"),
    pytest.param({"definition_id": "trd", "definition_version": V2}, id="v2"),
    pytest.param({"as_of": TODAY + dt.timedelta(days=30)}, id="later"),
    pytest.param({"since": day(30)}, id="since"),
    pytest.param({"since": day(300), "until": day(100)}, id="since-until"),
    pytest.param({"since": TODAY}, id="since-today"),
    pytest.param({"definition_version": V2, "since": day(60)}, id="v2-since"),
    pytest.param({"definition_id": "trd", "since": day(120), "as_of": day(10)}, id="id-as-of"),
]


@pytest.mark.parametrize("filters", ROLLUP_FILTERS)
def test_rollup_kept_by_every_write_matches_the_log(
    rolled: Rolled, filters: dict[str, Any]
) -> None:
    fast, slow = both_ways(rolled.svc, **filters)
    assert fast is not None
    assert fast == slow
    version, since = filters.get("definition_version"), filters.get("since")
    assert fast.total > 0 and (fast.overrides or since is not None)
    end = min(filters.get("as_of", TODAY), filters.get("until", dt.date.max))
    expected = reference(rolled.cohort.histories, end=end, since=since, version=version)
    assert counts(fast) == expected
    assert fast.median_over == ("patients" if since is None else "stays_ended")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    since=st.integers(min_value=-5, max_value=400),
    length=st.integers(min_value=0, max_value=400),
    version=st.sampled_from([None, "1.1.0", V2]),
)
def test_rollup_gives_every_window_as_the_log_does(
    rolled: Rolled, since: int, length: int, version: str | None
) -> None:
    """Any window of up to 400 days, opening from 400 days before today (the cohort enrolls over
    540) to 5 days after it: the by-day counters give what the log gives."""
    opens = day(since)
    closes = opens + dt.timedelta(days=length)
    fast, slow = both_ways(rolled.svc, since=opens, as_of=closes, definition_version=version)
    assert fast == slow


@pytest.mark.parametrize(
    "filters",
    [
        {"state": "augment"},
        {"state": "augment", "since": day(30)},
        {"as_of": day(1)},
        {"until": day(100)},
    ],
    ids=["state", "state-since", "as-of-before-last-move", "until"],
)
def test_rollup_declines_what_it_cannot_count_exactly(
    rolled: Rolled, filters: dict[str, Any]
) -> None:
    fast, slow = both_ways(rolled.svc, **filters)
    assert fast is None
    assert cohort_summary(rolled.svc, **filters) == slow


def test_rollup_is_what_a_backfill_of_the_log_gives(rolled: Rolled) -> None:
    kept = rollup_rows(rolled.engine)
    assert installed_on(rolled.engine)
    uninstall(rolled.engine)
    assert not installed_on(rolled.engine)
    install(rolled.engine)
    assert rollup_rows(rolled.engine) == kept


def installed_on(engine: sa.Engine) -> bool:
    with engine.connect() as c:
        return installed(c)


def test_returns_overrides_and_self_loops_stay_exact(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Moves through the services on a rolled-up database, then a self-loop written directly."""
    with open_db(request, "sqlite", tmp_path, rollup=True) as (svc, engine):
        by_hand(svc)
        svc.enroll("M-0002", actor="t", effective=day(50))
        for n, (to, when) in enumerate([("augment", 40), ("reassess", 35), ("augment", 20)]):
            svc.override(
                "M-0002", to=to, reason="case_review", note=f"#{n}", actor="t", effective=day(when)
            )
        self_loop(svc, "M-0002", "augment", day(10))
        fast, slow = both_ways(svc)
        assert fast == slow
        assert fast is not None and fast.traversals[("augment", "again", "augment")] == 1
        fast, slow = both_ways(svc, since=day(30))
        assert fast == slow
        assert fast is not None and fast.traversals[("augment", "again", "augment")] == 1
        # ended in the window: M-0001's initial_trial (90 days), reassess (2), augment (3);
        # M-0002's reassess (15); M-0002's augment goes on across its self-loop
        assert fast.visited == {"augment": 1, "initial_trial": 1, "reassess": 2}
        assert fast.median_days == {"augment": 3, "initial_trial": 90, "reassess": 8.5}
        assert patient_path_days(svc, "M-0002") == {
            "initial_trial": 10,  # day 50 → 40
            "augment": 25,  # 40 → 35, then 20 → today across the self-loop on day 10
            "reassess": 15,  # 35 → 20
        }
        kept = rollup_rows(engine)
        uninstall(engine)
        install(engine)
        assert rollup_rows(engine) == kept


def self_loop(svc: Services, patient_id: str, state: str, when: dt.date) -> None:
    """Append a transition from a state to itself (no TRD transition does; a definition may)."""
    from dataclasses import replace

    from engine.enrolling import event_row

    with svc.uow as uow:
        head, _ = uow.patients.load(patient_id)  # type: ignore[misc]
        v = head.version + 1
        event = event_row(
            patient_id, v, "transition", actor="t", effective_on=when,
            recorded_at=svc.clock.now(), payload={"guard": None},
            trigger="again", from_state=state, to_state=state,
        )  # fmt: skip
        moved = replace(head, version=v, entered_state_on=when)
        uow.patients.append(moved, [event], expected_version=v - 1)
        uow.commit()


def patient_path_days(svc: Services, patient_id: str) -> dict[str, int]:
    return dict(patient_path(svc, patient_id).days)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_concurrent_moves_both_ways_keep_the_rollup_exact(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    """Threads move their own patients augment ↔ reassess in opposite directions at once: no
    deadlock, no lost count."""
    import threading

    with open_db(request, backend, tmp_path, rollup=True) as (svc, engine):
        ids = [f"C-{i:03d}" for i in range(6)]
        for i, pid in enumerate(ids):
            svc.enroll(pid, actor="t", effective=day(60))
            first = "augment" if i % 2 else "reassess"
            svc.override(
                pid, to=first, reason="case_review", note="start", actor="t", effective=day(59)
            )
        errors: list[BaseException] = []

        def mover(i: int, pid: str, engine: sa.Engine, errors: list[BaseException]) -> None:
            local = Services(SqlUnitOfWork(engine), clock=FixedClock(TODAY), definitions=registry())
            try:
                where = "augment" if i % 2 else "reassess"
                for k in range(12):
                    where = "reassess" if where == "augment" else "augment"
                    local.override(
                        pid,
                        to=where,
                        reason="case_review",
                        note=str(k),
                        actor="t",
                        effective=day(58 - k),
                    )
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                local.close()

        threads = [
            threading.Thread(target=mover, args=(i, pid, engine, errors))
            for i, pid in enumerate(ids)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        fast, slow = both_ways(svc)
        assert fast == slow
        assert fast is not None and sum(fast.overrides.values()) == 6 + 6 * 12


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_migration_moves_its_patients_counts_to_the_new_version(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    """`pathway migrate` repins patients: the rollup's counts by version follow them, in the
    migration's own transactions, as a backfill of the log would have them."""
    from pathway.yamlio import definitions_dir

    v1 = load_definition(definitions_dir() / "trd-1.0.0.yaml")
    with open_db(request, backend, tmp_path, rollup=True) as (svc, engine):
        svc.definitions.add(v1)
        simulate(svc, SimParams(patients=40, seed=5, end=TODAY), progress=False)
        params = SimParams(patients=60, seed=6, end=TODAY, id_prefix="OLD-")
        simulate(svc, params, definition=v1, progress=False)
        done = svc.migrate("1.1.0", actor="t", state="reassess")
        assert done.moved and not done.dry_run
        for filters in (
            {"definition_version": "1.0.0"},
            {"definition_version": "1.1.0"},
            {"definition_version": "1.0.0", "since": day(200)},
            {"definition_version": "1.1.0", "since": day(200)},
        ):
            fast, slow = both_ways(svc, **filters)
            assert fast is not None and fast == slow, filters
        kept = rollup_rows(engine)
        uninstall(engine)
        install(engine)
        # an edge's `last_on` may stay later than its latest move (it only makes the rollup
        # decline a past end date more often); every count is the backfill's
        assert without_last_on(rollup_rows(engine)) == without_last_on(kept)


def without_last_on(rows: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    return {**rows, "cohort_edge": sorted(r[:-1] for r in rows["cohort_edge"])}


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_verify_reports_rollup_counters_that_drifted_from_the_log(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    with open_db(request, backend, tmp_path, rollup=True) as (svc, engine):
        by_hand(svc)
        simulate(svc, SimParams(patients=30, seed=3, end=TODAY), progress=False)
        assert svc.verify().cohort_rollup == [] and svc.verify().ok
        with engine.begin() as c:  # one stay, ended on one day, counted twice
            c.exec_driver_sql(
                "UPDATE cohort_stay_day SET n = n + 1 WHERE day = "
                "(SELECT MIN(day) FROM cohort_stay_day)"
            )
        report = svc.verify()
        assert not report.ok
        assert report.cohort_rollup == [
            "cohort rollup, trd 1.1.0, over the whole history: counts that differ from the log: "
            "visited (`pathway init-db --no-cohort-rollup` then `--cohort-rollup` builds it "
            "again)"
        ]
        uninstall(engine)
        install(engine)
        assert svc.verify().ok
