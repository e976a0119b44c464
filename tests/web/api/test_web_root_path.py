"""The app behind a reverse proxy under a path prefix (`pathway serve --root-path /pathway`, nginx
`location /pathway/ { proxy_pass http://127.0.0.1:8000/; }`): every URL a page emits, every
redirect and cookie carries the prefix, and `next` after login stays inside it.

The test client plays a server that sets ASGI's root_path (as `uvicorn --root-path` does): every
path asked for starts with the prefix. `create_app(root_path=...)` sets it itself behind a proxy
that strips it (the last tests)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from html.parser import HTMLParser
from http.cookiejar import Cookie
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from engine.web import app as web_app
from engine.web.accounts import Role
from tests.web.api.conftest import PASSWORD, PATIENT, Clinic

ROOT = "/pathway"
MINUTE = 60
URL_ATTRIBUTES = {"href", "src", "action", "hx-get", "hx-post", "hx-put", "hx-patch", "hx-delete"}
LANDING = {
    Role.coordinator: "/board",
    Role.clinician: "/board",
    Role.quality: "/quality",
    Role.admin: "/admin",
}


class Urls(HTMLParser):
    """Every URL in a page's attributes: (tag, attribute, URL, whether a GET follows it)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str, str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        for name, value in attrs:
            if name in URL_ATTRIBUTES and value is not None:
                got = name in ("href", "src", "hx-get") or (
                    tag == "form" and name == "action" and named.get("method", "get") == "get"
                )
                self.found.append((tag, name, value, got))


def urls_of(page: str) -> list[tuple[str, str, str, bool]]:
    parser = Urls()
    parser.feed(page)
    return parser.found


def shape(url: str) -> str:
    """A URL's route (a patient's id as *), to open one page of each kind."""
    return re.sub(r"/patients/(?!new\b)[^/?]+", "/patients/*", urlsplit(url).path)


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found[1]


def cookie_paths(client: TestClient) -> dict[str, str]:
    jar: list[Cookie] = list(client.cookies.jar)
    return {c.name: c.path for c in jar}


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_every_url_on_the_pages_a_role_reaches_carries_the_prefix(
    clinic: Clinic, role: Role
) -> None:
    c = clinic.browser(role, root_path=ROOT)
    r = c.get(f"{ROOT}/")
    assert r.status_code == 303 and r.headers["location"] == ROOT + LANDING[role]
    todo, opened, kinds = [r.headers["location"]], set(), {LANDING[role]}
    while todo:
        url = todo.pop(0)
        r = c.get(url)
        while r.status_code == 303:  # the brand link: the role's first page
            assert r.headers["location"].startswith(f"{ROOT}/"), (url, r.headers["location"])
            r = c.get(r.headers["location"])
        assert r.status_code == 200, (url, r.status_code)  # following a link works
        opened.add(shape(url))
        if not r.headers["content-type"].startswith("text/html"):
            continue
        for tag, attribute, found, got in urls_of(r.text):
            if found.startswith(("#", "data:")):
                continue
            assert found.startswith(f"{ROOT}/"), (url, tag, attribute, found)
            if got and shape(found) not in opened and found not in todo:
                todo.append(found)
                opened.add(shape(found))
                kinds.add(shape(found).removeprefix(ROOT))
    # the walk reached the role's pages (and, for the clinic roles, a patient and its diagram)
    expected = {
        Role.coordinator: {"/caseload", "/worklist", "/patients/*", "/patients/*/path.svg"},
        Role.clinician: {"/caseload", "/quality/measures", "/patients/*", "/enroll"},
        Role.quality: {"/board", "/quality/deviations", "/quality/definition"},
        Role.admin: {"/admin/audit", "/account"},
    }[role]
    assert expected <= kinds, kinds
    assert "/static/app.js" in kinds


def test_login_goes_back_to_the_page_asked_for_under_the_prefix(clinic: Clinic) -> None:
    anon = clinic.browser(None, root_path=ROOT)
    r = anon.get(f"{ROOT}/caseload?state=augment")
    assert r.status_code == 303
    assert r.headers["location"] == f"{ROOT}/login?next={ROOT}/caseload%3Fstate%3Daugment"
    page = anon.get(r.headers["location"]).text
    assert f'action="{ROOT}/login"' in page
    assert f'name="next" value="{ROOT}/caseload?state=augment"' in page
    r = anon.post(
        f"{ROOT}/login",
        data={
            "username": "user-coordinator",
            "password": PASSWORD,
            "csrf_token": csrf(page),
            "next": f"{ROOT}/caseload?state=augment",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == f"{ROOT}/caseload?state=augment"
    assert anon.get(r.headers["location"]).status_code == 200
    # without a `next`, the app's home: the role's first page
    other = clinic.browser(None, root_path=ROOT)
    r = other.post(
        f"{ROOT}/login",
        data={
            "username": "user-quality",
            "password": PASSWORD,
            "csrf_token": other.cookies["pathway_csrf"],
        },
    )
    assert r.headers["location"] == f"{ROOT}/"
    assert other.get(f"{ROOT}/").headers["location"] == f"{ROOT}/quality"


def test_the_cookies_belong_to_the_prefix(clinic: Clinic) -> None:
    c = TestClient(clinic.app, root_path=ROOT, follow_redirects=False)
    r = c.get(f"{ROOT}/login")
    assert "; Path=/pathway" in r.headers["set-cookie"]  # the CSRF cookie of the login form
    r = c.post(
        f"{ROOT}/login",
        data={
            "username": "user-clinician",
            "password": PASSWORD,
            "csrf_token": c.cookies["pathway_csrf"],
        },
    )
    header = next(h for h in r.headers.get_list("set-cookie") if h.startswith("pathway_session="))
    flags = {f.strip().lower() for f in header.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/pathway"} <= flags
    assert cookie_paths(c) == {"pathway_csrf": ROOT, "pathway_session": ROOT}
    # logging out: the login page under the prefix, and the prefix's cookie cleared
    page = c.get(f"{ROOT}/board").text
    r = c.post(f"{ROOT}/logout", data={"csrf_token": csrf(page)})
    assert r.status_code == 303 and r.headers["location"] == f"{ROOT}/login"
    cleared = next(h for h in r.headers.get_list("set-cookie") if h.startswith("pathway_session="))
    assert "Path=/pathway" in cleared and "Max-Age=0" in cleared
    assert "pathway_session" not in cookie_paths(c)
    assert c.get(f"{ROOT}/board").headers["location"].startswith(f"{ROOT}/login?")


def test_a_login_without_the_csrf_token_is_refused_under_the_prefix(clinic: Clinic) -> None:
    anon = clinic.browser(None, root_path=ROOT)
    data = {"username": "user-coordinator", "password": PASSWORD, "csrf_token": "wrong"}
    r = anon.post(f"{ROOT}/login", data=data)
    assert r.status_code == 403  # refused as the login form, not taken for an ended session
    assert "pathway_session" not in anon.cookies


@pytest.mark.parametrize(
    ("asked", "goes_to"),
    [
        (f"{ROOT}/patients/{PATIENT}", f"{ROOT}/patients/{PATIENT}"),
        (f"{ROOT}/caseload?state=augment&sort=days", f"{ROOT}/caseload?state=augment&sort=days"),
        ("//evil.example", f"{ROOT}/"),
        ("//evil.example/pathway/", f"{ROOT}/"),
        ("https://evil.example/pathway/", f"{ROOT}/"),
        ("/elsewhere", f"{ROOT}/"),
        ("/", f"{ROOT}/"),
        ("/pathwayx/board", f"{ROOT}/"),
        (f"{ROOT}/../elsewhere", f"{ROOT}/"),
        (f"{ROOT}/%2e%2e/elsewhere", f"{ROOT}/"),
        (f"{ROOT}/\\evil.example", f"{ROOT}/"),
    ],
    ids=[
        "patient",
        "query",
        "scheme-relative",
        "scheme-relative-with-prefix",
        "absolute",
        "outside-prefix",
        "host-root",
        "longer-prefix",
        "dot-segments",
        "encoded-dot-segments",
        "backslash",
    ],
)
def test_next_stays_inside_the_app(clinic: Clinic, asked: str, goes_to: str) -> None:
    anon = clinic.browser(None, root_path=ROOT)
    page = anon.get(f"{ROOT}/login", params={"next": asked}).text
    assert f'action="{ROOT}/login"' in page  # the round trip goes through the prefix's form
    assert f'name="next" value="{html.escape(goes_to)}"' in page
    r = anon.post(
        f"{ROOT}/login",
        data={
            "username": "user-coordinator",
            "password": PASSWORD,
            "csrf_token": csrf(page),
            "next": asked,
        },
    )
    assert r.status_code == 303 and r.headers["location"] == goes_to
    # signed in, the login page goes straight on, just as carefully
    r = anon.get(f"{ROOT}/login", params={"next": asked})
    assert r.status_code == 303 and r.headers["location"] == goes_to


def test_a_session_gone_idle_goes_to_login_under_the_prefix(clinic: Clinic) -> None:
    page, htmx, admin = (
        clinic.browser(role, root_path=ROOT)
        for role in (Role.coordinator, Role.clinician, Role.admin)
    )
    form = admin.get(f"{ROOT}/admin").text
    clinic.clock.advance(seconds=30 * MINUTE)
    r = page.get(f"{ROOT}/patients/{PATIENT}")
    assert r.status_code == 303
    assert r.headers["location"] == f"{ROOT}/login?next={ROOT}/patients/{PATIENT}&idle=1"
    assert "signed out after 30 minutes" in page.get(r.headers["location"]).text
    # htmx (a list's sort): the whole page goes to the login page
    r = htmx.get(f"{ROOT}/caseload?sort=days", headers={"HX-Request": "true"})
    assert r.status_code == 401
    assert r.headers["hx-redirect"] == f"{ROOT}/login?next={ROOT}/caseload%3Fsort%3Ddays&idle=1"
    # a form sent after the session ended: back to the page it was on, if that is under the prefix
    data = {"csrf_token": csrf(form), "name": "late", "role": "quality", "password": "x" * 20}
    r = admin.post(
        f"{ROOT}/admin/users", data=data, headers={"referer": f"http://testserver{ROOT}/admin"}
    )
    assert r.headers["location"] == f"{ROOT}/login?next={ROOT}/admin&ended=1&idle=1"
    r = admin.post(f"{ROOT}/admin/users", data=data, headers={"referer": "http://testserver/admin"})
    assert r.headers["location"] == f"{ROOT}/login?next={ROOT}/&ended=1"
    r = admin.post(
        f"{ROOT}/admin/users",
        data=data,
        headers={"referer": f"http://testserver{ROOT}/admin", "HX-Request": "true"},
    )
    assert r.headers["hx-redirect"] == f"{ROOT}/login?next={ROOT}/admin&ended=1"


def test_forms_post_redirect_get_under_the_prefix(clinic: Clinic) -> None:
    c = clinic.browser(Role.coordinator, root_path=ROOT)
    page = c.get(f"{ROOT}/patients/{PATIENT}").text
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version is not None
    r = c.post(
        f"{ROOT}/patients/{PATIENT}/record/measurement",
        data={
            "csrf_token": csrf(page),
            "version": version[1],
            "date": "2026-05-31",
            "instrument": "PHQ-9",
            "score": "7",
        },
    )
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"{ROOT}/patients/{PATIENT}?done=")
    assert "PHQ-9" in c.get(r.headers["location"]).text
    r = c.post(
        f"{ROOT}/enroll",
        data={"csrf_token": csrf(page), "id": "NEW-0001", "effective": "2026-06-01"},
    )
    assert (
        r.status_code == 303 and r.headers["location"] == f"{ROOT}/patients/NEW-0001?done=enrolled"
    )
    admin = clinic.browser(Role.admin, root_path=ROOT)
    token = csrf(admin.get(f"{ROOT}/admin").text)
    r = admin.post(
        f"{ROOT}/admin/users",
        data={
            "csrf_token": token,
            "name": "newcomer",
            "role": "quality",
            "password": "a fine test passphrase",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == f"{ROOT}/admin?done=user"
    r = admin.post(
        f"{ROOT}/account",
        data={
            "csrf_token": token,
            "current_password": PASSWORD,
            "new_password": "a new password 2026",
            "confirm_password": "a new password 2026",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == f"{ROOT}/account?done=password"
    assert "path=/pathway" in r.headers["set-cookie"].lower()  # the new session's cookie


def test_the_api_static_files_and_openapi_under_the_prefix(clinic: Clinic) -> None:
    anon = TestClient(clinic.app, root_path=ROOT, follow_redirects=False)
    r = anon.get(f"{ROOT}/api/v1/worklist")  # an API request: 401, never the login page
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    r = clinic.api(Role.coordinator, root_path=ROOT).get(f"{ROOT}/api/v1/patients/{PATIENT}")
    assert r.status_code == 200 and r.json()["patient_id"] == PATIENT
    r = anon.get(f"{ROOT}/api/v1/openapi.json")
    assert r.status_code == 200 and r.json()["servers"] == [{"url": ROOT}]
    r = anon.get(f"{ROOT}/static/app.css")
    assert r.status_code == 200 and "cache-control" not in r.headers  # static files may be kept
    assert "content-security-policy" in r.headers
    r = anon.get(f"{ROOT}/login")
    assert r.headers["cache-control"] == "no-store"
    assert anon.get(f"{ROOT}/healthz").json() == {"status": "ok"}


def forward_cookies(client: TestClient) -> None:
    """What the browser sends to /pathway/... and nginx passes on to the stripped path: the
    prefix's cookies (the client itself keeps them to the paths under /pathway)."""
    kept = {c.name: c.value or "" for c in client.cookies.jar}
    client.cookies.clear()
    for name, value in kept.items():
        client.cookies.set(name, value, path="/")


def test_the_app_adds_the_prefix_behind_a_proxy_that_strips_it(
    make_clinic: Callable[..., Clinic], sqlite_url: str
) -> None:
    clinic = make_clinic(sqlite_url, root_path="/pathway/")  # one trailing slash is dropped
    # no root_path from the server: the paths as nginx passes them on, without the prefix
    c = TestClient(clinic.app, follow_redirects=False)
    r = c.get("/caseload")
    assert r.headers["location"] == f"{ROOT}/login?next={ROOT}/caseload"
    r = c.get("/login")
    assert f'action="{ROOT}/login"' in r.text and f'src="{ROOT}/static/app.js?v=' in r.text
    assert "; Path=/pathway" in r.headers["set-cookie"]
    forward_cookies(c)
    r = c.post(
        "/login",
        data={
            "username": "user-coordinator",
            "password": PASSWORD,
            "csrf_token": c.cookies["pathway_csrf"],
            "next": f"{ROOT}/worklist",
        },
    )
    assert r.headers["location"] == f"{ROOT}/worklist"
    forward_cookies(c)
    page = c.get("/worklist")
    assert page.status_code == 200 and f'href="{ROOT}/patients/' in page.text
    assert c.get("/static/app.css").status_code == 200


def test_the_prefix_comes_from_the_environment(
    make_clinic: Callable[..., Clinic], sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_clinic(sqlite_url)  # seeded
    monkeypatch.setenv("PATHWAY_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("PATHWAY_ROOT_PATH", "/apps/pathway")
    app = web_app.create_app_from_env()
    try:
        r = TestClient(app, follow_redirects=False).get("/board")
        assert r.headers["location"] == "/apps/pathway/login?next=/apps/pathway/board"
    finally:
        app.state.web.engine.dispose()
        app.state.web.accounts.engine.dispose()
        app.state.web.accounts.audit_engine.dispose()


@pytest.mark.parametrize(
    ("value", "kept"), [("", ""), ("/", ""), ("/pathway", "/pathway"), ("/a/b.c/", "/a/b.c")]
)
def test_a_path_prefix_is_kept_without_its_trailing_slash(value: str, kept: str) -> None:
    assert web_app.check_root_path(value) == kept


@pytest.mark.parametrize("value", ["pathway", "/a//b", "/..", "/a/./b", "/x y", "/a?b", "/é"])
def test_a_value_that_is_no_path_prefix_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="expected a path prefix such as /pathway"):
        web_app.check_root_path(value)
