"""The web audit's findings (scratch/audit-web/report.md), each pinned by a test: the audit log's
date filter, impossible measure periods, CSV exports and their filters, worklist paging, the
cohort window's wording, forms posted after the session ended, past `as_of` dates."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from engine import FixedClock
from engine.web import create_app
from engine.web.accounts import Role

sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))
from seed import FRESH, PASSWORD, TODAY, USERS, seed

USER_OF = {Role(role): name for name, role in reversed(USERS.items())}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    url = f"sqlite:///{tmp_path_factory.mktemp('audit_fixes') / 'clinic.db'}"
    seed(url)
    made = create_app(url, clock=FixedClock(TODAY))
    yield made
    made.state.web.engine.dispose()


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found[1]


def client(app: FastAPI, role: Role | None) -> TestClient:
    c = TestClient(app, follow_redirects=False)
    token = csrf(c.get("/login").text)
    if role is not None:
        r = c.post(
            "/login", data={"username": USER_OF[role], "password": PASSWORD, "csrf_token": token}
        )
        assert r.status_code == 303, r.text
    return c


def bearer(app: FastAPI, role: Role) -> TestClient:
    tokens: dict[Role, str] = app.state.__dict__.setdefault("test_tokens", {})
    if role not in tokens:
        tokens[role] = app.state.web.accounts.create_token(f"fixes-{role.value}", role=role.value)
    token = tokens[role]
    return TestClient(app, headers={"Authorization": f"Bearer {token}"}, follow_redirects=False)


def in_layout(page: str) -> bool:
    """A page of the app (its layout), not a bare error page."""
    return 'id="main"' in page and "<nav" in page


# -- 1. the audit log's date filter ----------------------------------------------------------


def test_audit_log_filters_by_utc_days(app: FastAPI) -> None:
    c = client(app, Role.admin)
    c.get("/admin/audit")  # at least one row today (the clock's day)
    day = TODAY.isoformat()
    for query in (f"since={day}", f"until={day}", f"since={day}&until={day}"):
        r = c.get(f"/admin/audit?{query}")
        assert r.status_code == 200, r.text
        assert "audit view" in r.text
    before = (TODAY - dt.timedelta(days=1)).isoformat()
    r = c.get(f"/admin/audit?until={before}")
    assert r.status_code == 200 and "audit view" not in r.text  # nothing before today
    assert c.get("/admin/audit?since=2026-12-01").status_code == 200
    assert c.get("/admin/audit?since=0001-01-01").status_code == 200


def test_audit_log_date_out_of_range_is_422_naming_field_and_value(app: FastAPI) -> None:
    c = client(app, Role.admin)
    r = c.get("/admin/audit?until=9999-12-31")
    assert r.status_code == 422
    assert in_layout(r.text)
    assert "until" in r.text and "9999-12-31" in r.text


# -- 2. impossible measure periods; a failed background computation -------------------------


@pytest.mark.parametrize(
    ("query", "field", "value"),
    [
        ("start=0001-01-01&end=9999-12-31", "start", "0001-01-01"),
        ("start=0002-06-01&end=2026-01-01", "start", "0002-06-01"),
        ("start=2026-01-01&end=9999-12-31", "end", "9999-12-31"),
        ("start=2026-01-01&end=2025-01-01", "end", "2025-01-01"),
    ],
)
def test_an_impossible_measures_period_is_refused_up_front(
    app: FastAPI, query: str, field: str, value: str
) -> None:
    from engine.web.quality_data import cache_of

    c = client(app, Role.quality)
    r = c.get(f"/quality/measures?{query}")
    assert r.status_code == 422
    assert in_layout(r.text) and "Working out" not in r.text
    assert field in r.text and value in r.text
    cache_of(app.state).wait(10)

    api = bearer(app, Role.quality).get(f"/api/v1/quality/measures?{query}")
    assert api.status_code == 422
    assert api.headers["content-type"].startswith("application/problem+json")
    assert api.json()["errors"][0]["field"] == field
    assert api.json()["errors"][0]["value"] == value

    deviations = query.replace("start=", "since=").replace("end=", "until=")
    named = {"start": "since", "end": "until"}[field]
    r = c.get(f"/quality/deviations?{deviations}")
    assert r.status_code == 422 and named in r.text and value in r.text


@pytest.mark.parametrize(
    ("path", "query", "bad", "label"),
    [
        ("/quality/measures", "start=2026-01-01&end=2025-01-01", "m-end", "Period to"),
        ("/quality/measures", "start=soon&end=2025-01-01", "m-start", "Period from"),
        ("/quality/deviations", "since=2026-01-01&until=2025-01-01", "d-until", "Moves to"),
    ],
)
def test_a_refused_period_is_shown_in_its_form_as_typed(
    app: FastAPI, path: str, query: str, bad: str, label: str
) -> None:
    r = client(app, Role.quality).get(f"{path}?{query}")
    assert r.status_code == 422 and in_layout(r.text)
    typed = dict(part.split("=") for part in query.split("&"))
    for name, value in typed.items():  # the form is there, with what was typed
        assert f'name="{name}" value="{value}"' in r.text
    field = re.search(rf'<input[^>]*id="{bad}"[^>]*>', r.text)
    assert field is not None and 'aria-invalid="true"' in field[0]
    assert 'aria-describedby="period-error"' in field[0]
    alert = re.search(r'<p class="alert" role="alert" id="period-error">([^<]*)</p>', r.text)
    assert alert is not None and alert[1].startswith(f"{label}: ")
    assert 'id="results"' not in r.text  # nothing worked out, nothing pending


def test_a_failed_background_computation_is_shown_not_polled_forever(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.measures.quality as quality
    from engine.web.pages import review
    from engine.web.quality_data import cache_of

    started = threading.Event()
    calls: list[int] = []

    def broken(*args: object, **kwargs: object) -> object:
        calls.append(1)
        started.set()
        raise ValueError("year -1 is out of range")

    monkeypatch.setattr(quality, "measures_by_version", broken)
    monkeypatch.setattr(review, "PAGE_WAIT", 5.0)
    c = client(app, Role.quality)
    url = "/quality/measures?start=2023-01-01&end=2023-12-31"  # nothing kept for it
    page = c.get(url)
    assert page.status_code == 500
    assert in_layout(page.text)
    assert "Could not work out the measures" in page.text and "hx-trigger" not in page.text
    poll = c.get(url, headers={"HX-Request": "true"})  # the pending page's poll
    assert poll.status_code == 500 and poll.headers.get("hx-refresh") == "true"
    assert calls == [1]  # reported, not started again on every poll
    cache_of(app.state).wait(10)


# -- 3. CSV exports: plain numbers; the cohort page's CSV keeps its filters -------------------


def test_board_csv_carries_plain_numbers(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.queries.board as board_mod

    real = board_mod.board

    def big(*args: object, **kwargs: object) -> board_mod.Board:
        b = real(*args, **kwargs)  # type: ignore[arg-type]
        rows = tuple(
            r.model_copy(update={"patients": r.patients + 1020, "with_due_item": 1000})
            for r in b.rows
        )
        return b.model_copy(
            update={
                "rows": rows,
                "patients": sum(r.patients for r in rows),
                "with_due_item": sum(r.with_due_item for r in rows),
            }
        )

    monkeypatch.setattr(board_mod, "board", big)
    for role in (Role.coordinator, Role.quality):
        r = client(app, role).get("/board.csv")
        assert r.status_code == 200
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert rows and rows[-1]["state"] == "*total*"
        for row in rows:
            for column in ("patients", "with_due_item"):
                assert re.fullmatch(r"\d+|≤10|\*", row[column]), row
        assert int(rows[-1]["patients"]) >= 1020 * (len(rows) - 1)
    # the page itself still groups digits for people
    assert "1,0" in client(app, Role.coordinator).get("/board").text


def test_the_cohort_pages_csv_keeps_the_filters(app: FastAPI) -> None:
    c = client(app, Role.quality)
    query = "state=reassess&since=2026-03-01&until=2026-05-31"
    page = c.get(f"/quality?{query}")
    assert page.status_code == 200
    links = re.findall(r'href="([^"]+)"', page.text.replace("&amp;", "&"))
    exports = [h for h in links if h.startswith(("/quality/cohort.", "/board.csv"))]
    assert exports and all(h.endswith(f"?{query}") for h in exports), exports
    assert '"/board.csv"' not in page.text
    assert f"/quality/cohort.csv?{query}" in exports
    r = c.get(f"/quality/cohort.csv?{query}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows and {"state", "label", "patients", "entered", "median_days"} <= set(rows[0])
    for row in rows:
        assert re.fullmatch(r"|\d+(\.\d)?|≤10|\*", row["patients"]), row
        assert "," not in row["patients"]
    unfiltered = c.get("/quality/cohort.csv").text
    assert unfiltered != r.text or "reassess" in r.text  # the filters reach the counts


def test_the_cohort_page_gives_its_counts_as_tables_too(app: FastAPI) -> None:
    """The drawing's text equivalent (WCAG 1.1.1): the same suppressed counts as the CSV, and
    the moves with their counts."""
    c = client(app, Role.quality)
    page = c.get("/quality").text
    tables = page[page.index('<details id="counts-as-tables">') : page.index("</details>")]
    cells = re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", tables)
    rows = list(csv.DictReader(io.StringIO(c.get("/quality/cohort.csv").text)))
    assert rows
    for row in rows:
        i = cells.index(html.escape(row["label"]))
        assert cells[i + 1 : i + 4] == [row["patients"], row["entered"], row["median_days"]]
    moves = tables[tables.index("<caption>Moves") :]
    assert re.search(r'<td class="num">(\d+|≤10|\*)</td>', moves)


# -- 4. paging keeps as_of and stops at the last page; the cohort window in the form's terms --


def test_worklist_pager_keeps_as_of_and_refuses_pages_past_the_last(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.web.pages import worklist

    monkeypatch.setattr(worklist, "PAGE_SIZE", 1)
    c = client(app, Role.coordinator)
    day = (TODAY + dt.timedelta(days=30)).isoformat()
    page = c.get(f"/worklist?as_of={day}")
    pages = int(re.search(r"page 1 of (\d+)", page.text)[1])  # type: ignore[index]
    assert pages > 1, "the seeded clinic has more than one item due"
    nxt = re.search(r'href="(/worklist\?page=2[^"]*)"', page.text)
    assert nxt is not None and f"as_of={day}" in nxt[1]
    second = c.get(nxt[1].replace("&amp;", "&"))
    assert second.status_code == 200
    assert f"as of {day}" in second.text and f"page 2 of {pages}" in second.text

    past = c.get(f"/worklist?page=999&as_of={day}")
    assert past.status_code == 404
    assert in_layout(past.text)
    assert "999" in past.text and f"has {pages} pages" in past.text
    assert "page 999 of" not in past.text


def test_caseload_pager_keeps_as_of_and_refuses_pages_past_the_last(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.web.pages import caseload

    monkeypatch.setattr(caseload, "PAGE_SIZE", 1)
    c = client(app, Role.coordinator)
    day = (TODAY + dt.timedelta(days=7)).isoformat()
    page = c.get(f"/caseload?as_of={day}")
    assert page.status_code == 200
    nxt = re.search(r'href="(/caseload\?[^"]*page=2[^"]*)"', page.text)
    assert nxt is not None and f"as_of={day}" in nxt[1]
    assert f'<input type="hidden" name="as_of" value="{day}">' in page.text  # the filter form
    past = c.get("/caseload?page=999")
    assert past.status_code == 404 and in_layout(past.text) and "999" in past.text


def test_cohort_window_closing_before_it_opens_is_named_in_the_forms_terms(app: FastAPI) -> None:
    c = client(app, Role.quality)
    query = "since=2026-05-01&until=2026-01-01"
    for path in ("/quality", "/quality/cohort.json", "/quality/cohort.csv", "/quality/cohort.svg"):
        r = c.get(f"{path}?{query}")
        assert r.status_code == 422, path
        assert in_layout(r.text), path
        assert "until" in r.text and "2026-01-01" in r.text and "since" in r.text
        assert "--" not in r.text, path
    api = bearer(app, Role.quality).get(f"/api/v1/cohort/diagram?format=json&{query}")
    assert api.status_code == 422
    assert api.headers["content-type"].startswith("application/problem+json")
    assert api.json()["errors"][0]["field"] == "until"
    assert api.json()["errors"][0]["value"] == "2026-01-01"
    assert "--" not in api.json()["detail"]
    future = c.get(f"/quality?since={(TODAY + dt.timedelta(days=3)).isoformat()}")
    assert future.status_code == 422 and "since" in future.text


# -- 6. a board or caseload as of a past date -------------------------------------------------


@pytest.mark.parametrize("path", ["/board", "/board.csv", "/caseload", "/caseload?state=augment"])
def test_a_past_as_of_is_refused_and_a_future_one_allowed(app: FastAPI, path: str) -> None:
    c = client(app, Role.coordinator)
    sep = "&" if "?" in path else "?"
    past = (TODAY - dt.timedelta(days=151)).isoformat()
    r = c.get(f"{path}{sep}as_of={past}")
    assert r.status_code == 422
    assert in_layout(r.text)
    assert "as_of" in r.text and past in r.text and "before today" in r.text
    assert c.get(f"{path}{sep}as_of={TODAY.isoformat()}").status_code == 200
    future = c.get(f"{path}{sep}as_of={(TODAY + dt.timedelta(days=30)).isoformat()}")
    assert future.status_code == 200
    assert not re.search(r'class="num">\s*-\d+(\.\d)?\s*<', future.text)  # no negative days


def test_the_api_refuses_a_past_as_of_for_the_board_and_caseload(app: FastAPI) -> None:
    api = bearer(app, Role.coordinator)
    past = (TODAY - dt.timedelta(days=1)).isoformat()
    for path in ("/api/v1/board", "/api/v1/caseload"):
        r = api.get(f"{path}?as_of={past}")
        assert r.status_code == 422, path
        assert r.json()["errors"][0] == {
            "field": "as_of",
            "value": past,
            "message": r.json()["errors"][0]["message"],
        }
        assert "before today" in r.json()["errors"][0]["message"]
        assert api.get(f"{path}?as_of={TODAY.isoformat()}").status_code == 200


# -- 5. a form posted after the session ended ------------------------------------------------


def test_a_form_posted_after_logout_goes_to_login_saying_the_session_ended(app: FastAPI) -> None:
    c = client(app, Role.coordinator)
    page = c.get(f"/patients/{FRESH}")
    token = csrf(page.text)
    version = re.search(r'name="version" value="(\d+)"', page.text)
    assert version is not None
    data = {"csrf_token": token, "version": version[1], "date": "2026-05-31", "suicidality": "none"}
    r = c.post("/logout", data={"csrf_token": token})
    assert r.status_code == 303
    referer = {"referer": f"http://testserver/patients/{FRESH}"}
    r = c.post(f"/patients/{FRESH}/record/risk", data=data, headers=referer)
    assert r.status_code == 303
    assert r.headers["location"] == f"/login?next=/patients/{FRESH}&ended=1"
    login = c.get(r.headers["location"])
    assert login.status_code == 200 and "session has ended" in login.text
    assert f'name="next" value="/patients/{FRESH}"' in login.text
    # htmx: a whole-page redirect, not a fragment swapped in
    r = c.post(
        f"/patients/{FRESH}/record/risk", data=data, headers={**referer, "HX-Request": "true"}
    )
    assert r.status_code == 401 and r.headers["hx-redirect"].startswith("/login?next=")
    # another site's Referer is not followed
    r = c.post(f"/patients/{FRESH}/record/risk", data=data, headers={"referer": "http://evil/x"})
    assert r.headers["location"] == "/login?next=/&ended=1"


def test_with_a_session_a_missing_or_wrong_csrf_token_is_still_refused(app: FastAPI) -> None:
    c = client(app, Role.coordinator)
    page = c.get(f"/patients/{FRESH}")
    version = re.search(r'name="version" value="(\d+)"', page.text)
    assert version is not None
    data = {"version": version[1], "date": "2026-05-31", "suicidality": "none"}
    for extra in ({}, {"csrf_token": "forged"}):
        r = c.post(f"/patients/{FRESH}/record/risk", data={**data, **extra})
        assert r.status_code == 403
        assert "Form refused" in r.text and "Not for your role" not in r.text
        assert "CSRF" in r.text
    after = c.get(f"/patients/{FRESH}")
    assert re.search(r'name="version" value="(\d+)"', after.text)[1] == version[1]  # type: ignore[index]
    # the login form keeps its own double-submit check
    anonymous = TestClient(app, follow_redirects=False)
    anonymous.get("/login")
    r = anonymous.post("/login", data={"username": "x", "password": "y", "csrf_token": "forged"})
    assert r.status_code == 403


# -- 7. a refused write shows the form again with what was typed -----------------------------


def test_a_refused_write_keeps_the_typed_values(app: FastAPI) -> None:
    c = client(app, Role.clinician)
    page = c.get(f"/patients/{FRESH}")
    version = re.search(r'name="version" value="(\d+)"', page.text)
    assert version is not None
    data = {
        "csrf_token": csrf(page.text),
        "version": version[1],
        "date": "2026-05-20",
        "instrument": "PHQ-9",
        "score": "40",
    }
    r = c.post(f"/patients/{FRESH}/record/measurement", data=data)
    assert r.status_code == 422
    form = r.text[r.text.index('id="form-measurement"') :]
    form = form[: form.index("</form>")]
    assert 'name="score"' in form and 'value="40"' in form
    assert 'value="2026-05-20"' in form
    assert re.search(r'<option value="PHQ-9" selected>', form)
    other = r.text[r.text.index('id="form-screen"') :]
    assert 'value="40"' not in other[: other.index("</form>")]  # only the refused form
    # the override form keeps its note and choices too
    r = c.post(
        f"/patients/{FRESH}/override",
        data={
            "csrf_token": data["csrf_token"],
            "version": version[1],
            "to": "exited",
            "reason": "no-such-reason",
            "note": "MDT decision <b>",
        },
    )
    assert r.status_code == 422
    override = r.text[r.text.index('id="form-override"') :]
    override = override[: override.index("</form>")]
    assert "MDT decision &lt;b&gt;</textarea>" in override
    assert '<option value="exited" selected>' in override


# -- the audit log pages while it grows (each read adds a row) ------------------------------


def test_audit_api_pages_neither_shift_nor_repeat_while_reads_add_rows(app: FastAPI) -> None:
    c = bearer(app, Role.admin)
    for _ in range(6):  # each read adds an `api.audit` row: the filter sees its own reads
        assert c.get("/api/v1/audit?action=api.audit&limit=1").status_code == 200
    first = c.get("/api/v1/audit?action=api.audit&limit=2").json()
    upto, pages = first["upto"], [first["rows"]]
    assert upto == first["rows"][0]["id"]
    while pages[-1]:  # to the end, each read adding a row the pages must not show
        offset = 2 * len(pages)
        body = c.get(f"/api/v1/audit?action=api.audit&limit=2&upto={upto}&offset={offset}").json()
        assert body["upto"] == upto
        pages.append(body["rows"])
    ids = [r["id"] for page in pages for r in page]
    assert len(ids) == len(set(ids)) >= 6 and ids == sorted(ids, reverse=True)
    everything = app.state.web.accounts.audit_log(action="api.audit", upto=upto)
    assert ids == [r["id"] for r in everything]  # the rows there were at the first page


def test_audit_api_until_is_the_last_day_included_and_not_before_since(app: FastAPI) -> None:
    c = bearer(app, Role.admin)
    c.get("/api/v1/audit?limit=1")
    day = TODAY.isoformat()
    assert c.get(f"/api/v1/audit?action=api.audit&until={day}").json()["rows"]
    assert c.get("/api/v1/audit?until=9999-12-31").status_code == 200
    r = c.get(f"/api/v1/audit?since={day}&until=2000-01-01")
    assert r.status_code == 422
    (error,) = r.json()["errors"]
    assert (error["field"], error["value"]) == ("until", "2000-01-01")


def test_audit_page_two_follows_page_one_while_views_add_rows(app: FastAPI) -> None:
    accounts = app.state.web.accounts
    for _ in range(101):
        accounts.audit(None, "paging_probe", actor="probe")
    c = client(app, Role.admin)
    one = c.get("/admin/audit?action=paging_probe")
    assert one.status_code == 200
    link = re.search(r'href="(/admin/audit\?page=2[^"]*)"', one.text)
    assert link is not None and "upto=" in link[1]
    accounts.audit(None, "paging_probe", actor="probe")  # a row added between the two pages
    two = c.get(link[1].replace("&amp;", "&"))
    rows = [r for r in two.text.split("<tr>") if 'scope="row">probe<' in r]
    assert len(rows) == 1  # the 101st probe: none repeated from page one, the new one not shown
