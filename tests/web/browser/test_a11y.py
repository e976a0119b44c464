"""Accessibility (WCAG 2.2 AA) in a real Chromium, beyond `test_browser.py`'s axe pass: axe-core
on every page in the states people meet (a refused form, an empty list, a list's second page,
an error page, a result still being worked out), and what axe cannot see: where keyboard focus
goes after htmx swaps part of a page, what a screen reader is told, the focus ring's contrast,
reflow at 320 CSS pixels, and the diagrams' text equivalents."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import axe_violations, serving
from seed import FRESH, PASSWORD, TODAY, fresh_record, seed

Login = Callable[..., Any]
BIG = 60  # patients added to the second clinic: more than a page (50) of caseload and worklist


def _axe_clean(page: Any) -> None:
    violations = axe_violations(page)
    assert violations == [], [(v["id"], v["help"], len(v["nodes"])) for v in violations]


def _active(page: Any) -> dict[str, str]:
    """The focused element: its tag, id, role, text, and the id of its closest [id] parent."""
    return dict(
        page.evaluate(
            """() => { const e = document.activeElement; return {
                tag: e.tagName.toLowerCase(), id: e.id || "", role: e.getAttribute("role") || "",
                text: (e.innerText || "").trim(),
                within: (e.parentElement && e.parentElement.closest("[id]") || {}).id || ""}; }"""
        )
    )


def _announced(page: Any, text: str) -> None:
    """The page's live region (there from the start, so screen readers read it) says `text`."""
    region = page.locator("#announce")
    assert region.get_attribute("aria-live") == "polite"
    page.wait_for_function(
        "t => (document.getElementById('announce') || {}).textContent?.includes(t)", arg=text
    )


# --- a second clinic with more than one page of patients and of due items --------------------


@pytest.fixture(scope="module")
def big_server(server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The seeded clinic and BIG more patients like the fresh one, served like `server`."""

    from engine import FixedClock, Services, SqlUnitOfWork, make_engine
    from engine.web.app import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('big') / 'clinic.db'}"
    seed(url)
    engine = make_engine(url)
    svc = Services(SqlUnitOfWork(engine), clock=FixedClock(TODAY))
    for n in range(BIG):
        record = fresh_record()
        record["id"] = f"P-{1000 + n}"
        svc.enroll(str(record["id"]), actor="seed", record=record, effective=dt.date(2026, 2, 2))
    svc.close()
    engine.dispose()
    with serving(create_app(url, clock=FixedClock(TODAY))) as base:
        yield base


@pytest.fixture
def big(browser: Any, big_server: str) -> Iterator[Any]:
    """A page of the second clinic, logged in as a coordinator (axe may be injected)."""
    context = browser.new_context(
        base_url=big_server, viewport={"width": 1280, "height": 900}, bypass_csp=True
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("/login")
    page.get_by_label("Name").fill("coord1")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    yield page
    assert errors == []
    context.close()


# --- axe on every page, in every state ----------------------------------------------------------

STATES = {
    "coord1": [
        "/caseload?sort=days&descending=true",  # sorted descending
        "/caseload?flag=risk&due=now",  # an empty list, maybe
        "/worklist?kind=urgent_risk",
        "/patients/EX-01",
        "/patients/EX-05",
        "/quality/measures",
        "/quality/deviations",
        "/quality/measures?start=2026-05-01&end=2025-01-01",  # a period refused (422)
        "/caseload?page=99",  # past the last page (404)
        "/caseload?as_of=2020-01-01",  # a date refused (422)
        "/enroll",  # the enrollment form
    ],
    "qual": ["/quality/measures", "/quality/deviations", "/quality/definition", "/account"],
    "admin": ["/admin/audit?user=nobody", "/admin/audit?since=2026-01-01&until=2026-12-31"],
}


@pytest.mark.parametrize(
    ("user", "path"), [(u, p) for u, paths in STATES.items() for p in paths], ids=str
)
def test_axe_on_more_states(login: Login, user: str, path: str) -> None:
    page = login(user, bypass_csp=True)
    page.goto(path)
    page.locator("details").evaluate_all("ds => ds.forEach(d => { d.open = true; })")
    _axe_clean(page)


@pytest.mark.parametrize("path", ["/caseload?page=2", "/worklist?page=2", "/caseload?page=1"])
def test_axe_on_a_paged_list(big: Any, path: str) -> None:
    response = big.goto(path)
    assert response is not None and response.status == 200
    assert re.search(r"page \d of [2-9]", big.locator("#main").inner_text())
    _axe_clean(big)


def test_axe_on_empty_lists(login: Login) -> None:
    page = login("coord1", bypass_csp=True)
    page.goto("/board")
    empty = [
        row.locator("th a").get_attribute("href")
        for row in page.locator("tbody tr").all()
        if row.locator("td").nth(1).inner_text().strip() == "0"
    ]
    assert empty, "every state has a patient: no empty list to check"
    state = (empty[0] or "").split("state=")[1]
    page.goto(f"/caseload?state={state}")
    assert "No patient matches." in page.locator("#caseload tbody").inner_text()
    _axe_clean(page)
    page.goto(f"/worklist?state={state}")
    assert "Nothing is due." in page.locator("#worklist tbody").inner_text()
    _axe_clean(page)


def test_titles_name_each_page(login: Login) -> None:
    titles = {}
    pages = {
        "clin": [
            "/board",
            "/caseload",
            "/worklist",
            f"/patients/{FRESH}",
            "/enroll",
            "/quality",
        ],
        "qual": ["/quality/measures", "/quality/deviations", "/quality/definition", "/account"],
        "admin": ["/admin", "/admin/audit"],
    }
    for user, paths in pages.items():
        page = login(user)
        for path in paths:
            page.goto(path)
            assert page.locator("html").get_attribute("lang") == "en"
            assert page.locator("h1").count() == 1
            titles[path] = page.title()
    assert all(t.endswith(" · pathway") for t in titles.values()), titles
    assert len(set(titles.values())) == len(titles), titles


# --- keyboard ---------------------------------------------------------------------------------


def test_skip_link_is_first_visible_and_moves_focus(login: Login) -> None:
    page = login("coord1")
    page.goto("/worklist")
    page.keyboard.press("Tab")
    assert _active(page)["text"] == "Skip to content"
    box = page.locator("a.skip").bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0  # on screen when focused
    page.keyboard.press("Enter")
    assert _active(page)["id"] == "main"


def _contrast(a: str, b: str) -> float:
    def luminance(css: str) -> float:
        r, g, b_ = (int(x) / 255 for x in re.findall(r"\d+(?:\.\d+)?", css)[:3])
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b_)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_focus_ring_contrasts_with_what_is_around_it(login: Login) -> None:
    """WCAG 1.4.11: a focus indicator needs 3:1 against the colours next to it (the ring sits
    2px outside the element, on its container's background)."""
    page = login("coord1")
    page.goto(f"/patients/{FRESH}")
    seen = set()
    kinds = {"A", "BUTTON", "SUMMARY", "INPUT", "SELECT"}
    for _ in range(80):  # skip link, brand, navigation (on the grey header), log out, the page
        if kinds <= {tag for tag, _ in seen}:
            break
        page.keyboard.press("Tab")
        found = page.evaluate(
            """() => { const e = document.activeElement; const s = getComputedStyle(e);
                if (!e.matches(":focus")) return null;  // inside a date input's own picker
                let p = e.parentElement, bg = "rgb(255, 255, 255)";
                while (p) { const c = getComputedStyle(p).backgroundColor;
                  if (c !== "rgba(0, 0, 0, 0)" && c !== "transparent") { bg = c; break; }
                  p = p.parentElement; }
                return [s.outlineStyle === "none" ? "" : s.outlineColor, bg, e.tagName]; }"""
        )
        if found is None:
            continue
        ring, around, tag = found
        assert ring, f"no visible focus ring on {tag}"
        assert _contrast(ring, around) >= 3, (tag, ring, around, _contrast(ring, around))
        seen.add((tag, around))
    assert kinds <= {tag for tag, _ in seen}, seen
    assert len({around for _, around in seen}) >= 2, seen  # the grey header and the white page


def test_sorting_the_caseload_keeps_focus_and_says_what_changed(login: Login) -> None:
    page = login("coord1")
    page.goto("/caseload")
    link = page.locator("#caseload thead a", has_text="Days in state")
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"sort=days"))
    page.wait_for_selector("th[aria-sort] a:has-text('Days in state')")
    active = _active(page)
    assert active["tag"] == "a" and active["text"].startswith("Days in state"), active
    header = page.locator("th[aria-sort]")
    assert header.count() == 1 and header.get_attribute("aria-sort") == "ascending"
    _announced(page, "patients as of")
    page.keyboard.press("Enter")  # again: descending, still on the link
    page.wait_for_selector("th[aria-sort=descending]")
    assert _active(page)["text"].startswith("Days in state")


def test_filtering_a_list_keeps_focus_and_says_what_changed(login: Login) -> None:
    page = login("coord1")
    page.goto("/caseload")
    label = page.locator("#c-state option").nth(2).inner_text()
    page.get_by_label("State").select_option(label=label)
    page.get_by_role("button", name="Filter").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"state="))
    _announced(page, f"in {label}")
    assert _active(page)["text"] == "Filter"
    page.goto("/worklist")
    page.get_by_role("button", name="Filter").focus()
    page.keyboard.press("Enter")
    _announced(page, "items due as of")
    assert _active(page)["text"] == "Filter"


@pytest.mark.parametrize(("path", "part"), [("/caseload", "caseload"), ("/worklist", "worklist")])
def test_paging_a_list_keeps_focus_in_it(big: Any, path: str, part: str) -> None:
    big.goto(path)
    pages = int(re.findall(r"page 1 of (\d+)", big.locator(f"#{part}-summary").inner_text())[0])
    assert pages >= 2
    big.get_by_role("link", name="Next page").focus()
    big.keyboard.press("Enter")
    _announced(big, f"page 2 of {pages}")
    if pages > 2:  # the Next page link is there again: focus stays on it
        assert _active(big)["text"] == "Next page"
        big.goto(f"{path}?page={pages - 1}")
        big.get_by_role("link", name="Next page").focus()
        big.keyboard.press("Enter")
        _announced(big, f"page {pages} of {pages}")
    # the last page has no Next page link: focus goes to the list's summary, not the top
    active = _active(big)
    assert active["id"] == f"{part}-summary", active
    assert f"page {pages} of {pages}" in active["text"], active
    big.get_by_role("link", name="Previous page").focus()
    big.keyboard.press("Enter")
    _announced(big, f"page {pages - 1} of {pages}")
    assert _active(big)["text"] == "Previous page" or _active(big)["id"] == f"{part}-summary"
    big.goto(f"{path}?page=2")
    big.get_by_role("link", name="Previous page").focus()
    big.keyboard.press("Enter")  # to the first page, which has no Previous page link
    _announced(big, f"page 1 of {pages}")
    assert _active(big)["id"] == f"{part}-summary"


@pytest.mark.parametrize("path", ["/caseload", "/worklist"])
def test_back_after_a_list_swap_shows_the_whole_page(login: Login, path: str) -> None:
    """The lists push their URL when filtered, sorted or paged; Back must show the page with its
    header, navigation, skip link and filters, not the list's fragment alone."""
    page = login("coord1", bypass_csp=True)
    page.goto(path)
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"\?"))
    page.wait_for_timeout(200)
    page.go_back()
    page.wait_for_url(re.compile(re.escape(path) + "$"))
    page.wait_for_load_state()
    page.wait_for_selector("main h1", timeout=10_000)
    assert page.locator("a.skip").count() == 1
    assert page.locator("nav[aria-label=Main]").count() == 1
    assert page.locator("main form.filters").count() == 1
    _axe_clean(page)


def test_an_error_answering_a_list_replaces_the_page_not_nests_in_it(big: Any) -> None:
    """Another coordinator's work shrinks the list: the page asked for is gone (a 404 page)."""
    big.goto("/worklist")
    big.evaluate("htmx.ajax('GET', '/worklist?page=9', '#worklist')")
    big.wait_for_selector("#main h1:has-text('No such page')")
    assert big.locator("main").count() == 1
    assert big.locator("header").count() == 1 and big.locator("nav[aria-label=Main]").count() == 1
    assert _active(big)["role"] == "alert"
    _axe_clean(big)


# --- refused forms ------------------------------------------------------------------------------


def test_refused_login_has_focus_on_the_message(browser: Any, server: str) -> None:
    context = browser.new_context(base_url=server, bypass_csp=True)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Name").fill("coord1")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector("[role=alert]")
    assert _active(page)["role"] == "alert"
    _axe_clean(page)
    context.close()


def test_refused_admin_form_has_focus_on_the_message(login: Login) -> None:
    page = login("admin", bypass_csp=True)
    page.goto("/admin")
    page.get_by_label("Name", exact=True).fill("coord1")  # taken
    page.get_by_label("Initial password").fill("long enough 123")
    page.get_by_role("button", name="Add user").click()
    page.wait_for_selector("[role=alert]")
    assert _active(page)["role"] == "alert"
    _axe_clean(page)


def test_refused_password_change_has_focus_on_the_summary(login: Login) -> None:
    page = login("qual", bypass_csp=True)
    page.goto("/board")
    page.get_by_role("link", name="Change password").click()
    page.wait_for_url(re.compile(r"/account$"))
    _axe_clean(page)
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("a new passphrase 1")
    page.get_by_label("Repeat the new password").fill("a new passphrase 2")  # differs
    page.get_by_role("button", name="Change password").click()
    page.wait_for_selector("[role=alert]")
    assert _active(page)["role"] == "alert"
    assert "Repeat the new password" in page.get_by_role("alert").inner_text()
    confirm = page.locator("#account-confirm")
    assert confirm.get_attribute("aria-invalid") == "true" and confirm.input_value() == ""
    _axe_clean(page)
    page.get_by_role("alert").get_by_role("link").first.click()
    assert _active(page)["id"] == "account-confirm"


def test_refused_record_form_names_and_marks_the_field(login: Login) -> None:
    page = login("clin", bypass_csp=True)
    page.goto(f"/patients/{FRESH}")
    form = page.locator("#form-measurement")
    form.get_by_label("Score").fill("99")
    form.get_by_role("button").click()
    page.wait_for_selector("[role=alert]")
    summary = page.get_by_role("alert")
    assert _active(page)["role"] == "alert"  # focus on the error summary
    assert "Score: 99" in summary.inner_text()  # the error names its field
    score = page.locator("#measurement-score")
    assert score.get_attribute("aria-invalid") == "true"
    assert score.input_value() == "99"  # what was typed is kept
    described = (score.get_attribute("aria-describedby") or "").split()
    assert any("Score: 99" in page.locator(f"#{d}").inner_text() for d in described)
    assert page.locator("#measurement-date").get_attribute("required") is not None
    _axe_clean(page)
    summary.get_by_role("link").first.click()  # the summary's link goes to the field
    assert _active(page)["id"] == "measurement-score"


def test_refused_enrollment_has_focus_on_the_summary_and_marks_the_field(login: Login) -> None:
    page = login("coord1", bypass_csp=True)
    page.goto("/caseload")
    page.get_by_role("link", name="Enroll a patient").click()
    page.wait_for_url(re.compile(r"/enroll$"))
    _axe_clean(page)
    page.get_by_label("Patient id").fill("A11Y-0001")
    page.locator("#baseline-instrument").select_option("PHQ-9")
    page.locator("#baseline-score").fill("99")
    page.locator("#baseline-date").fill("2026-05-01")
    page.get_by_role("button", name="Enroll the patient").click()
    page.wait_for_selector("[role=alert]")
    summary = page.get_by_role("alert")
    assert _active(page)["role"] == "alert"  # focus on the error summary
    assert "Score: 99" in summary.inner_text()  # the error names its field and value
    score = page.locator("#baseline-score")
    assert score.get_attribute("aria-invalid") == "true"
    assert score.input_value() == "99" and page.locator("#patient-id").input_value() == "A11Y-0001"
    described = (score.get_attribute("aria-describedby") or "").split()
    assert any("Score: 99" in page.locator(f"#{d}").inner_text() for d in described)
    _axe_clean(page)
    summary.get_by_role("link").first.click()  # the summary's link goes to the field
    assert _active(page)["id"] == "baseline-score"


def test_every_field_description_is_on_the_page(login: Login) -> None:
    """aria-describedby names elements that are there and say something (a checkbox's hint too:
    "Corrects an end already recorded" keeps the end first recorded)."""
    page = login("clin")
    for path in ("/enroll", f"/patients/{FRESH}"):
        page.goto(path)
        missing = page.evaluate(
            """() => Array.from(document.querySelectorAll("[aria-describedby]")).flatMap(e =>
                e.getAttribute("aria-describedby").split(/\\s+/).filter(id => {
                  const d = document.getElementById(id); return !d || !d.textContent.trim(); })
                .map(id => e.id + " -> " + id))"""
        )
        assert missing == [], path
    hint = page.locator("#trial_ended-correction-hint")
    assert hint.is_visible() and "end first recorded" in hint.inner_text()


def test_refused_override_note_is_marked(login: Login) -> None:
    page = login("clin", bypass_csp=True)
    page.goto(f"/patients/{FRESH}")
    page.locator("#override-note").evaluate("e => e.removeAttribute('required')")
    page.locator("#form-override").get_by_role("button", name="Override").click()
    page.wait_for_selector("[role=alert]")
    note = page.locator("#override-note")
    assert note.get_attribute("aria-invalid") == "true"
    assert "Note" in page.locator(f"#{note.get_attribute('aria-describedby')}").inner_text()
    assert _active(page)["role"] == "alert"
    _axe_clean(page)


# --- results worked out in the background -------------------------------------------------------


def test_a_pending_result_does_not_take_focus(
    login: Login, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.measures.quality as quality
    from engine.web.pages import review

    slow, release = quality.measures_by_version, threading.Event()

    def held(*args: Any, **kwargs: Any) -> Any:
        release.wait(30)
        return slow(*args, **kwargs)

    monkeypatch.setattr(quality, "measures_by_version", held)
    monkeypatch.setattr(review, "PAGE_WAIT", 0.05)
    page = login("qual", bypass_csp=True)
    page.goto("/quality/measures?start=2024-01-01&end=2024-12-31")  # nothing kept for it
    assert "Working out the measures" in page.get_by_role("status").inner_text()
    _axe_clean(page)
    page.get_by_label("Period to").focus()  # a coordinator picks another period meanwhile
    with page.expect_response(lambda r: "/quality/measures" in r.url):
        pass  # one poll (every 3 s)
    page.wait_for_timeout(300)
    assert _active(page)["id"] == "m-end"  # not moved to the status message
    release.set()
    page.wait_for_selector("table.measure", timeout=15_000)
    assert _active(page)["id"] == "m-end"
    _announced(page, "The measures are ready")
    assert page.locator("main").count() == 1 and page.locator("#results").count() == 1


# --- diagrams and reflow ------------------------------------------------------------------------


def test_definition_diagram_has_tables_of_its_states_and_moves(login: Login) -> None:
    page = login("qual", bypass_csp=True)
    page.goto("/quality/definition")
    svg = page.locator(".diagram svg")
    assert svg.get_attribute("role") == "img" and svg.get_attribute("aria-label")
    tables = page.locator("#diagram-as-tables")
    tables.locator("summary").click()
    states = tables.locator("table").first.locator("tbody tr")
    moves = tables.locator("table").nth(1).locator("tbody tr")
    assert states.count() >= 5 and moves.count() >= 5
    drawn = page.locator(".diagram svg g.node text").evaluate_all(
        "ts => ts.map(t => t.textContent.trim())"
    )
    for label in states.locator("th").all_inner_texts():
        assert any(label in t or t in label for t in drawn), label  # each state is drawn
    _axe_clean(page)


def test_cohort_diagram_has_its_counts_as_tables(login: Login) -> None:
    page = login("qual", bypass_csp=True)
    page.goto("/quality")
    tables = page.locator("#counts-as-tables")
    tables.locator("summary").click()
    states = tables.locator("table").first.locator("tbody tr")
    moves = tables.locator("table").nth(1).locator("tbody tr")
    assert states.count() >= 3 and moves.count() >= 1
    _axe_clean(page)


def test_patient_page_reflows_at_320_pixels(login: Login) -> None:
    """WCAG 1.4.10: at 320 CSS pixels nothing but a data table or a drawing is wider than the
    window (a reader does not scroll sideways to read a line)."""
    page = login("coord1")
    page.set_viewport_size({"width": 320, "height": 800})
    for path in (
        f"/patients/{FRESH}",
        "/patients/EX-01",
        "/enroll",
        "/board",
        "/caseload",
        "/quality",
    ):
        page.goto(path)
        wide = page.evaluate(
            """() => { const w = document.documentElement.clientWidth; return Array.from(
                document.querySelectorAll('main *')).filter(e => !e.closest('table, svg, .diagram')
                && e.getBoundingClientRect().right > w + 1).map(e => e.tagName + '.' + e.className
                + ' ' + (e.textContent || '').trim().slice(0, 40)); }"""
        )
        assert wide == [], (path, wide[:5])


def test_board_and_lists_do_not_rely_on_colour(login: Login) -> None:
    """State, risk and a guard's result are words, not only colours (WCAG 1.4.1)."""
    page = login("coord1")
    page.goto(f"/patients/{FRESH}")
    for result in page.locator("#guards [data-result]").all():
        assert result.inner_text().strip() in ("met", "not met", "unknown (data missing)")
    page.goto("/worklist")
    for badge in page.locator(".badge.risk").all():
        assert badge.inner_text().strip()
