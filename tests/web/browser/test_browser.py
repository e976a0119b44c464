"""The app in a real Chromium: log in, board → state → patient, record a PHQ-9, advance, two
coordinators racing on one patient, the quality role's view, and axe-core on every page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from conftest import axe_violations, screenshot
from seed import FRESH

Login = Callable[..., Any]


def test_log_in_and_out(login: Login) -> None:
    page = login("coord1")
    assert page.url.endswith("/board")
    assert page.get_by_role("navigation", name="Main").is_visible()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/login"))
    page.goto("/board")
    assert "/login" in page.url  # the session ended


def test_wrong_password_is_refused(browser: Any, server: str) -> None:
    context = browser.new_context(base_url=server)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Name").fill("coord1")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").is_visible()
    assert "/login" in page.url
    context.close()


def test_board_to_state_to_patient(login: Login) -> None:
    page = login("coord1")
    screenshot(page, "board")
    rows = page.locator("tbody tr")
    assert rows.count() >= 3
    link = page.locator("tbody th a").first
    state = link.inner_text()
    link.click()
    page.wait_for_url(re.compile(r"/caseload\?state="))
    assert state in page.content()
    screenshot(page, "caseload")
    page.locator("#caseload tbody th a").first.click()
    page.wait_for_url(re.compile(r"/patients/"))
    assert page.locator("#state").is_visible()
    assert page.locator("#guards .guard").count() >= 1


def test_record_a_phq9_changes_chart_and_guards(login: Login) -> None:
    page = login("coord1")
    page.goto(f"/patients/{FRESH}")
    points = page.locator("#chart circle.point").count()
    guards_before = page.locator("#guards").inner_text()
    version = int(page.locator("#version").inner_text())
    form = page.locator("#form-measurement")
    form.get_by_label("Date").fill("2026-05-30")
    form.get_by_label("Instrument").select_option("PHQ-9")
    form.get_by_label("Score").fill("4")
    form.get_by_role("button").click()
    page.wait_for_selector("p.notice")
    assert page.locator("#chart circle.point").count() == points + 1
    assert page.locator('#chart circle[data-date="2026-05-30"][data-score="4"]').count() == 1
    assert int(page.locator("#version").inner_text()) == version + 1
    guards_after = page.locator("#guards").inner_text()
    assert guards_after != guards_before
    assert "Recommended: remit" not in guards_before  # outcome unknown before the score
    assert guards_after.startswith("Recommended: remit")  # remission: PHQ-9 4 ≤ 4
    screenshot(page, "patient")


def test_advance(login: Login) -> None:
    page = login("coord1")
    pid = _patient_with_a_move(page)
    before = page.locator("#state").inner_text()
    version = int(page.locator("#version").inner_text())
    button = page.locator("#guards form button").first
    trigger = button.inner_text().removeprefix("Move: ").split(" → ")[0]
    button.click()
    page.wait_for_selector("p.notice")
    assert page.locator("#state").inner_text() != before
    assert "Moved." in page.locator("p.notice").inner_text()
    assert int(page.locator("#version").inner_text()) == version + 1
    page.goto(f"/patients/{pid}")  # the log says so, newest first
    newest = page.locator("#timeline tbody tr").first.inner_text()
    assert newest.startswith(str(version + 1)) and trigger.replace(" ", "_") in newest


def test_two_coordinators_one_wins(login: Login) -> None:
    first, second = login("coord1"), login("coord2", bypass_csp=True)  # axe on the stale page
    pid = _patient_with_a_move(first, skip=1)
    second.goto(f"/patients/{pid}")
    version = int(second.locator("#version").inner_text())
    first.locator("#guards form button").first.click()
    first.wait_for_selector("p.notice")
    # the second coordinator still has the page at the old version
    second.locator("#guards form button").first.click()
    second.wait_for_selector("#stale")
    text = second.locator("#stale").inner_text()
    assert f"changed since you read it (version {version} → {version + 1})" in text
    assert "Nothing was written" in text
    assert second.evaluate("document.activeElement.id") == "stale"  # focus on the message
    assert int(second.locator("#version").inner_text()) == version + 1
    screenshot(second, "stale-version")
    violations = axe_violations(second)
    assert violations == [], [(v["id"], v["help"], len(v["nodes"])) for v in violations]
    # nothing written: the log has exactly the first coordinator's move on top
    second.goto(f"/patients/{pid}")
    assert int(second.locator("#version").inner_text()) == version + 1


def test_quality_sees_suppressed_cohort_and_no_patient(login: Login) -> None:
    page = login("qual")
    assert page.url.endswith("/quality")
    diagram = page.locator("#cohort-diagram svg")
    assert diagram.count() == 1
    assert "≤10" in page.locator("#cohort-diagram").inner_text()
    screenshot(page, "quality")
    response = page.goto(f"/patients/{FRESH}")
    assert response is not None and response.status == 403
    assert FRESH not in page.inner_text("body")
    page.goto("/board")
    assert "≤10" in page.locator("tbody").inner_text()
    assert page.locator("tbody a").count() == 0  # no way to a patient list


PAGES = {
    "coord1": [
        "/board",
        "/caseload",
        "/worklist",
        f"/patients/{FRESH}",
        "/quality",
        "/patients/NO-SUCH-PATIENT",
        "/caseload?flag=bogus",
    ],
    "clin": [f"/patients/{FRESH}"],
    # the refusals are pages too: 403 for the role, 404 for an unknown patient, 422 for a bad filter
    "qual": [
        "/quality",
        "/quality/definition?version=1.1.0&against=1.0.0",
        "/board",
        f"/patients/{FRESH}",
    ],
    "admin": ["/admin", "/admin/audit"],
}


@pytest.mark.parametrize(
    ("user", "path"), [(u, p) for u, paths in PAGES.items() for p in paths], ids=str
)
def test_no_serious_accessibility_violation(login: Login, user: str, path: str) -> None:
    page = login(user, bypass_csp=True)
    page.goto(path)
    violations = axe_violations(page)
    assert violations == [], [(v["id"], v["help"], len(v["nodes"])) for v in violations]


def test_login_page_accessible(browser: Any, server: str) -> None:
    context = browser.new_context(base_url=server, bypass_csp=True)
    page = context.new_page()
    page.goto("/login")
    screenshot(page, "login")
    assert axe_violations(page) == []
    context.close()


def test_screenshots_of_the_other_pages(login: Login) -> None:
    page = login("clin")
    for path, name in (("/worklist", "worklist"), ("/quality/definition", "definition")):
        page.goto(path)
        screenshot(page, name)
    admin = login("admin")
    admin.goto("/admin/audit")
    assert admin.locator("tbody tr").count() >= 1
    screenshot(admin, "audit")


def _patient_with_a_move(page: Any, *, skip: int = 0) -> str:
    """A seeded patient (other than the fresh one) whose page offers an enabled move."""
    page.goto("/worklist")
    ids = sorted(set(page.locator("tbody th a").all_inner_texts()))
    found = []
    for pid in [f"EX-{n:02d}" for n in range(1, 11)] + ids:
        if pid == FRESH or pid in found:
            continue
        page.goto(f"/patients/{pid}")
        if page.locator("#guards form button").count():
            found.append(pid)
            if len(found) > skip:
                return pid
    raise AssertionError("no seeded patient has an enabled move")


def test_a_measures_page_fills_in_when_its_first_computation_ends(
    login: Login, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import engine.measures.quality as quality
    from engine.web.pages import review

    slow, release = quality.measures_by_version, threading.Event()

    def held(*args: Any, **kwargs: Any) -> Any:
        release.wait(30)  # the server runs in this process: held until the page is checked
        return slow(*args, **kwargs)

    monkeypatch.setattr(quality, "measures_by_version", held)
    monkeypatch.setattr(review, "PAGE_WAIT", 0.05)
    page = login("qual", bypass_csp=True)
    page.goto("/quality/measures?start=2023-01-01&end=2023-12-31")  # nothing kept for it
    status = page.get_by_role("status")
    assert "Working out the measures" in status.inner_text()
    violations = axe_violations(page)
    assert violations == [], [(v["id"], v["help"], len(v["nodes"])) for v in violations]
    release.set()
    page.wait_for_selector("table.measure", timeout=15_000)  # htmx asked again: swapped in
    assert page.get_by_role("status").count() == 0
    assert "Computed at" in page.locator("#main").inner_text()
    assert page.url.endswith("/quality/measures?start=2023-01-01&end=2023-12-31")
