"""The quality pages' suppression: the app's one rule over the measures' and the deviation
report's tables, with the equations that hold between their numbers."""

from __future__ import annotations

from typing import Any

from engine.web.quality_data import deviation_tables, measure_tables, measures_json

POPS = ("initial-population", "denominator", "denominator-exclusion", "numerator")


def _cell(ip: int, excl: int, num: int) -> dict[str, Any]:
    counts = dict(zip(POPS, (ip, ip, excl, num), strict=True))
    eligible = ip - excl
    return {"populations": counts, "score": round(num / eligible, 4) if eligible else None}


def _result(groups: dict[str, dict[str, tuple[int, int, int]]]) -> dict[str, Any]:
    versions = sorted(next(iter(groups.values())))
    return {
        "period": {"start": "2025-01-01", "end": "2025-12-31"},
        "versions": versions,
        "measures": [
            {
                "measure": "CMS128",
                "groups": [
                    {
                        "id": gid,
                        "versions": {v: _cell(*by_version[v]) for v in versions},
                        "overall": _cell(
                            *(sum(by_version[v][i] for v in versions) for i in range(3))
                        ),
                    }
                    for gid, by_version in groups.items()
                ],
            }
        ],
    }


def test_a_small_version_takes_a_complementary_cell_and_its_rate_with_it() -> None:
    result = _result(
        {
            "acute": {"1.0.0": (7, 0, 3), "1.1.0": (200, 5, 90)},
            "continuation": {"1.0.0": (7, 0, 2), "1.1.0": (200, 5, 60)},
        }
    )
    (table,) = measure_tables(result)
    acute = {r["version"]: r for r in table["groups"][0]["rows"]}
    assert acute["1.0.0"]["counts"]["initial-population"].hidden == "primary"
    assert acute["1.0.0"]["rate"].value is None
    # 1.1.0 + 1.0.0 = overall: one of the two others must go too, in every population
    for pop in ("initial-population", "denominator"):
        assert acute["1.1.0"]["counts"][pop].hidden or acute[None]["counts"][pop].hidden
    # the exclusions (5) are small in 1.1.0: hidden, and its rate with them
    assert acute["1.1.0"]["counts"]["denominator-exclusion"].text == "≤10"
    assert acute["1.1.0"]["rate"].percent == "–"
    # the groups share their initial population: hidden alike in both
    cont = {r["version"]: r for r in table["groups"][1]["rows"]}
    for v in ("1.0.0", "1.1.0", None):
        assert bool(acute[v]["counts"]["initial-population"].hidden) == bool(
            cont[v]["counts"]["initial-population"].hidden
        )
    data = measures_json(result)
    assert data["measures"][0]["groups"][0]["versions"]["1.0.0"]["score"] is None


def test_nothing_is_hidden_when_no_count_is_small() -> None:
    result = _result({"acute": {"1.0.0": (40, 0, 20), "1.1.0": (50, 0, 30)}})
    (table,) = measure_tables(result)
    rows = table["groups"][0]["rows"]
    assert all(not c.hidden for r in rows for c in r["counts"].values())
    assert rows[-1]["rate"].percent == "55.6%"


def test_deviation_rows_add_up_to_the_summary_so_one_small_reason_hides_another() -> None:
    version: dict[str, Any] = {
        "patients": 120,
        "moves": 300,
        "overrides": 40,
        "against_recommendation": 45,
        "overstays": 12,
        "overrides_by_reason": {"case_review": 37, "safety": 3},
        "overrides_by_path": {"a → b": 40},
        "against_by_path": {"a → b (recommended: c)": 45},
        "overstays_by_state": {"a": 12},
    }
    report = {
        "since": "2025-01-01",
        "until": "2025-12-31",
        "per_version": {"trd 1.1.0": version},
        "dwell_norms": [
            {
                "definition": "trd 1.1.0",
                "state": "a",
                "norm_days": 80.0,
                "source": "cohort p90",
                "patients": 100,
            }
        ],
    }
    t = deviation_tables(report)
    reasons = {r["row"]: r["cells"] for r in t["overrides_by_reason"]}
    assert reasons["safety"][0].hidden == "primary"
    # 40 overrides − 37 case reviews would give the 3 safety overrides back
    assert (
        reasons["case_review"][0].hidden == "complementary" or t["summary"][0]["overrides"].hidden
    )
    assert t["dwell"][0]["norm_days"].text == "80.0" and t["dwell"][0]["overstays"].text == "12"
