"""The app published under a path prefix, in a real Chromium: uvicorn serves it behind a tiny
proxy that strips the prefix (what nginx's `location /pathway/ { proxy_pass
http://127.0.0.1:8000/; }` does), and the app adds it back (`create_app(root_path=...)`, as
`pathway serve --root-path` does). Log in, the caseload sorted by htmx, a patient, a PHQ-9
recorded by an htmx post, log out: every request the browser makes is under the prefix and
answered."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import serving
from seed import FRESH, PASSWORD, TODAY, seed
from starlette.types import ASGIApp, Receive, Scope, Send

ROOT = "/pathway"


class StripPrefix:
    """The proxy: a path under the prefix goes on without it; anything else is not the app's
    (404), so a URL the app emits without the prefix fails here as it would behind nginx."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app, self.prefix = app, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not scope["path"].startswith(self.prefix + "/"):
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b"not under the prefix"})
            return
        scope = dict(scope)
        scope["path"] = scope["path"][len(self.prefix) :]
        if scope.get("raw_path"):
            scope["raw_path"] = scope["raw_path"][len(self.prefix) :]
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def published(server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A seeded clinic behind the prefix-stripping proxy; the proxy's base URL. (`server`
    first: it skips, or in CI fails, without Chromium.)"""
    from engine import FixedClock
    from engine.web.app import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('prefixed') / 'clinic.db'}"
    seed(url)
    app = create_app(url, clock=FixedClock(TODAY), root_path=ROOT)
    with serving(StripPrefix(app, ROOT)) as base:
        yield base


def test_log_in_sort_open_a_patient_record_and_log_out_under_the_prefix(
    browser: Any, published: str
) -> None:
    home = f"{published}{ROOT}"
    context = browser.new_context(base_url=published, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    asked: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else 0)
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else 0)
    page.on("pageerror", lambda e: problems.append(str(e)))

    page.goto(f"{ROOT}/")
    page.wait_for_url(re.compile(rf"{ROOT}/login\?next={ROOT}/$"))
    page.get_by_label("Name").fill("coord1")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{home}/board")
    assert {c["path"] for c in context.cookies()} == {ROOT}

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Caseload").click()
    page.wait_for_url(f"{home}/caseload")
    with page.expect_request(lambda r: r.headers.get("hx-request") == "true") as sorting:
        page.locator("#caseload thead a", has_text="Days in state").click()
    assert sorting.value.url == f"{home}/caseload?sort=days"
    page.wait_for_url(f"{home}/caseload?sort=days")  # htmx pushed the prefixed URL
    page.wait_for_selector("th[aria-sort] a:has-text('Days in state')")

    page.locator("#caseload tbody th a", has_text=FRESH).click()
    page.wait_for_url(f"{home}/patients/{FRESH}")
    version = int(page.locator("#version").inner_text())
    form = page.locator("#form-measurement")
    form.get_by_label("Date").fill("2026-05-30")
    form.get_by_label("Instrument").select_option("PHQ-9")
    form.get_by_label("Score").fill("4")
    with page.expect_request(lambda r: r.method == "POST") as posting:
        form.get_by_role("button").click()
    assert posting.value.url == f"{home}/patients/{FRESH}/record/measurement"
    assert posting.value.headers.get("hx-request") == "true"
    page.wait_for_selector("p.notice")
    assert int(page.locator("#version").inner_text()) == version + 1
    assert page.locator('#chart circle[data-date="2026-05-30"][data-score="4"]').count() == 1

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{home}/login")
    page.goto(f"{ROOT}/caseload")
    page.wait_for_url(re.compile(rf"{ROOT}/login\?next={ROOT}/caseload$"))  # the session ended

    outside = [u for u in asked if not u.startswith(f"{home}/") and not u.startswith("data:")]
    assert outside == [] and problems == []
    assert f"{home}/static/vendor/htmx.min.js" in {u.split("?")[0] for u in asked}
    context.close()
