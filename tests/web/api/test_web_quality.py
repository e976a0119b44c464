"""`/api/v1/quality`: the measures per definition version and the deviation report as JSON, with
the same suppression as the pages, the same counts as the CLI, and 422 problems naming the
field and value of a bad period."""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.measures.logic import Period
from engine.measures.quality import measures_by_version
from engine.measures.report import evaluate
from engine.measures.sources import from_db
from engine.web.accounts import Role
from engine.web.quality_data import cache_of
from tests.web.api.conftest import TODAY, Clinic

PROBLEM = "application/problem+json"


def _problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    return body


def test_measures_json_per_version_and_overall_suppressed(any_clinic: Clinic) -> None:
    r = any_clinic.api(Role.quality).get("/api/v1/quality/measures")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["period"] == {"start": "2025-06-01", "end": "2026-05-31"}  # the default
    assert [m["measure"] for m in body["measures"]] == ["CMS159", "CMS128", "NQF1884", "DRR-E"]
    cms128 = body["measures"][1]["groups"]
    assert [g["id"] for g in cms128] == ["acute-phase-84-days", "continuation-phase-180-days"]
    assert body["suppressed"] == {"threshold": 10, "shown_as": None}
    for m in body["measures"]:
        for g in m["groups"]:
            assert set(g["versions"]) == set(body["versions"])
            for cell in [g["overall"], *g["versions"].values()]:
                for n in cell["populations"].values():
                    assert n is None or n == 0 or n > 10  # ten seeded patients: 1–10 hidden
                if None in cell["populations"].values():
                    assert cell["score"] is None


def test_measures_counts_are_the_clis(clinic: Clinic) -> None:
    period = Period(dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    cli = evaluate("CMS159", patients=from_db(clinic.url, today=TODAY), period=period)
    from engine import make_engine

    engine = make_engine(clinic.url)
    with engine.connect() as conn:
        ours = measures_by_version(conn, period=period, today=TODAY)
    engine.dispose()
    assert (
        ours["measures"][0]["groups"][0]["overall"]["populations"]
        == cli["groups"][0]["populations"]
    )


def test_a_period_ending_before_it_starts_is_422_naming_field_and_value(clinic: Clinic) -> None:
    c = clinic.api(Role.quality)
    body = _problem(c.get("/api/v1/quality/measures?start=2026-01-01&end=2025-12-31"), 422)
    assert body["errors"] == [
        {"field": "end", "value": "2025-12-31", "message": "is before start 2026-01-01"}
    ]
    body = _problem(c.get("/api/v1/quality/deviations?since=2026-03-01&until=2026-02-01"), 422)
    assert body["errors"][0]["field"] == "until" and body["errors"][0]["value"] == "2026-02-01"
    body = _problem(c.get("/api/v1/quality/measures?start=2026-02-30"), 422)
    assert body["errors"][0]["field"] == "start"  # as the app's own errors name it
    assert body["errors"][0]["value"] == "2026-02-30"


def test_deviations_json_counts_without_patient_ids(any_clinic: Clinic) -> None:
    r = any_clinic.api(Role.clinician).get("/api/v1/quality/deviations?since=2025-01-01")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["since"] == "2025-01-01" and body["until"] == "2026-05-31"
    assert set(body) >= {
        "summary",
        "overrides_by_reason",
        "overrides_by_path",
        "against_by_path",
        "dwell",
    }
    assert set(body["summary"]) == {*body["versions"], "overall"}
    assert "EX-" not in r.text and 'patient"' not in r.text
    rows = any_clinic.accounts.audit_log(action="api.quality.deviations", limit=1)
    assert rows[0]["cohort"] == {"since": "2025-01-01", "until": "2026-05-31"}


def test_admin_is_refused(clinic: Clinic) -> None:
    _problem(clinic.api(Role.admin).get("/api/v1/quality/measures"), 403)
    _problem(clinic.api(None).get("/api/v1/quality/deviations"), 401)


def test_deviations_reuse_the_recommendations_worked_out_before(clinic: Clinic) -> None:
    from engine import make_engine
    from engine.definitions import DefinitionRegistry
    from engine.measures.deviations import deviations_on

    svc = clinic.services()
    svc.override("EX-04", to="augment", reason="case_review", note="MDT", actor="t")
    svc.close()
    engine = make_engine(clinic.url)
    judged: dict[tuple[str, int, str, str], tuple[str | None, str | None]] = {}
    with engine.connect() as conn:
        fresh = deviations_on(conn, DefinitionRegistry(), today=TODAY, measures=False)
        first = deviations_on(
            conn, DefinitionRegistry(), today=TODAY, measures=False, judged=judged
        )
        assert judged and first == fresh
        # every move is judged already: nothing new is worked out, the report is the same
        judged_again = dict(judged)
        second = deviations_on(
            conn, DefinitionRegistry(), today=TODAY, measures=False, judged=judged_again
        )
    engine.dispose()
    assert second == fresh and judged_again == judged
    assert fresh["overrides_by_reason"] == {"case_review": 1}


def test_after_a_write_the_kept_result_says_so_and_fresh_recomputes(clinic: Clinic) -> None:
    c = clinic.api(Role.quality)
    url = "/api/v1/quality/deviations?since=2025-01-01&until=2026-06-01"  # today included
    first = c.get(url).json()
    assert first["records_changed_since"] is False
    svc = clinic.services()
    svc.override("EX-04", to="augment", reason="case_review", note="MDT", actor="t")
    svc.close()
    kept = c.get(url).json()  # the clinic's clock stands still: well within ten minutes
    assert kept["records_changed_since"] is True and kept["recomputing"] is True
    assert kept["computed_at"] == first["computed_at"]
    assert kept["overrides_by_reason"] == first["overrides_by_reason"]
    cache_of(clinic.app.state).wait(60)  # the thread working it out again
    after = c.get(url).json()
    assert after["records_changed_since"] is False and after["recomputing"] is False
    assert after["summary"]["overall"]["overrides"] != first["summary"]["overall"]["overrides"]
    again = c.get(url + "&fresh=true").json()
    assert again == after  # worked out again now: the same


def test_the_cache_serves_a_changed_result_for_ten_minutes_only() -> None:
    from engine.web.quality_data import Computed, QualityCache

    cache = QualityCache(size=2)
    at = dt.datetime(2026, 5, 31, 9, 0, tzinfo=dt.UTC)
    key = ("measures", dt.date(2025, 6, 1), dt.date(2026, 5, 31), TODAY)
    cache.put(key, (10, 50), Computed({"n": 1}, at, True))
    same = cache.get(key, (10, 50), at + dt.timedelta(hours=5))
    assert same is not None and same.current and same.result == {"n": 1}
    changed = cache.get(key, (10, 51), at + dt.timedelta(minutes=10))
    assert changed is not None and not changed.current and changed.at == at
    assert cache.get(key, (10, 51), at + dt.timedelta(minutes=10, seconds=1)) is None
    assert cache.get(key, (10, 50), at, fresh=True) is None
    for n in range(2):  # the oldest goes first
        cache.put((*key[:3], n), (0, 0), Computed({}, at, True))
    assert cache.get(key, (10, 50), at) is None


def test_one_background_recomputation_per_result_and_failures_keep_the_old_one() -> None:
    import threading

    from engine.web.quality_data import QualityCache

    cache, runs, go = QualityCache(), [], threading.Event()

    def slow() -> None:
        runs.append(1)
        go.wait(10)

    key = ("measures", dt.date(2025, 6, 1), dt.date(2026, 5, 31), TODAY)
    cache.refresh(key, slow)
    cache.refresh(key, slow)  # already running: not started again
    go.set()
    cache.wait(10)
    assert runs == [1]

    def broken() -> None:
        raise RuntimeError("database gone")

    cache.refresh(key, broken)  # logged, not raised; the key may be tried again
    cache.wait(10)
    cache.refresh(key, slow)
    cache.wait(10)
    assert runs == [1, 1]
