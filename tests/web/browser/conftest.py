"""Browser tests: the app served by uvicorn on a free loopback port over a seeded SQLite file,
driven in Debian's Chromium through Playwright (`executable_path`; no browser is downloaded).

Every test here is marked `browser`. Without /usr/bin/chromium they are skipped, unless
PATHWAY_REQUIRE_BROWSER=1 (CI sets it: `.ci/run`), where a missing browser fails the run.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("PATHWAY_CHROMIUM", "/usr/bin/chromium")
HERE = Path(__file__).resolve().parent
AXE = HERE / "vendor" / "axe.min.js"
SCREENSHOTS = HERE.parents[2] / "docs" / "screenshots"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: runs in a real Chromium (Playwright)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == HERE:
            item.add_marker(pytest.mark.browser)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app on http://127.0.0.1:PORT over a freshly seeded database; its base URL."""
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        if os.environ.get("PATHWAY_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing: `make chromium` (or `apt-get install chromium`)")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from seed import TODAY, seed

    from engine import FixedClock
    from engine.web.app import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'clinic.db'}"
    seed(url)
    with serving(create_app(url, clock=FixedClock(TODAY))) as base:
        yield base


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread on a free port; its base URL until the block ends."""
    import uvicorn

    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser(server: str) -> Iterator[Any]:
    """Chromium (headless), launched once."""
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # CI runs as root
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        yield b
        b.close()


@pytest.fixture
def login(browser: Any, server: str) -> Iterator[Callable[..., Any]]:
    """Factory: a new browser context logged in as a seeded user; its page."""
    from seed import PASSWORD

    contexts: list[Any] = []

    def make(user: str, *, bypass_csp: bool = False) -> Any:
        # bypass_csp only to inject axe-core (an inline script the app's CSP rightly refuses)
        context = browser.new_context(
            base_url=server, viewport={"width": 1280, "height": 900}, bypass_csp=bypass_csp
        )
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if _unexpected(m) else None)
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if _broken(r) else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.console_errors = errors
        page.goto("/login")
        page.get_by_label("Name").fill(user)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state()
        assert "/login" not in page.url, f"{user} could not log in"
        return page

    yield make
    for c in contexts:
        for page in c.pages:
            assert page.console_errors == [], page.console_errors  # CSP refusals included
        c.close()


def _unexpected(message: Any) -> bool:
    """A console error (a CSP refusal, a script error); failed loads are judged by `_broken`."""
    text: str = message.text
    return message.type == "error" and not text.startswith("Failed to load resource")


def _broken(response: Any) -> bool:
    """A sub-resource (script, style, image) or htmx request that failed: a broken page. The
    page itself may answer 4xx on purpose (a refused write, a forbidden page)."""
    if response.status < 400 or response.url.endswith("/favicon.ico"):
        return False
    kind: str = response.request.resource_type
    return kind not in ("document",) and not (
        kind in ("xhr", "fetch") and response.status < 500 and response.status in (403, 409, 422)
    )


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    return [v for v in result["violations"] if v.get("impact") in ("serious", "critical")]


def screenshot(page: Any, name: str) -> None:
    """Save the page to docs/screenshots/NAME.png when UPDATE_SCREENSHOTS=1."""
    if os.environ.get("UPDATE_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))  # the first screen: small files


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
