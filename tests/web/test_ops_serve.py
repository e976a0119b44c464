"""Operations: `pathway serve` behind a reverse proxy: which proxies' X-Forwarded-For/-Proto are
trusted, how long a stop waits for requests, no access log, and the URL's password never
printed."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from engine.cli import app

runner = CliRunner()


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: seen.update(kw, target=target))
    # serve hands the URL to its workers in the environment: restored after the test
    monkeypatch.setenv("PATHWAY_DATABASE_URL", "unset")
    monkeypatch.setenv("PATHWAY_SECURE_COOKIES", "0")
    monkeypatch.setenv("PATHWAY_IDLE_MINUTES", "30")
    monkeypatch.setenv("PATHWAY_ROOT_PATH", "")
    return seen


def test_serve_passes_proxy_and_shutdown_options(captured: dict[str, Any], sqlite_url: str) -> None:
    r = runner.invoke(
        app,
        ["serve", "--db", sqlite_url, "--forwarded-allow-ips", "10.0.0.5,10.0.1.0/24",
         "--graceful-timeout", "30", "--secure-cookies"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert captured["proxy_headers"] is True
    assert captured["forwarded_allow_ips"] == "10.0.0.5,10.0.1.0/24"
    assert captured["timeout_graceful_shutdown"] == 30
    assert captured["access_log"] is False and captured["log_level"] == "warning"


def test_serve_defaults_trust_only_the_local_proxy(
    captured: dict[str, Any], sqlite_url: str
) -> None:
    r = runner.invoke(app, ["serve", "--db", sqlite_url])
    assert r.exit_code == 0, r.output
    # None: uvicorn's default, $FORWARDED_ALLOW_IPS or else 127.0.0.1
    assert captured["forwarded_allow_ips"] is None
    assert captured["timeout_graceful_shutdown"] is None


def test_serve_hands_the_idle_timeout_to_its_workers(
    captured: dict[str, Any], sqlite_url: str
) -> None:
    import os

    r = runner.invoke(app, ["serve", "--db", sqlite_url, "--idle-minutes", "15"])
    assert r.exit_code == 0, r.output
    assert captured["target"] == "engine.web.app:create_app_from_env"
    assert os.environ["PATHWAY_IDLE_MINUTES"] == "15" and "after 15 minutes" in r.output
    r = runner.invoke(app, ["serve", "--db", sqlite_url])
    assert r.exit_code == 0 and os.environ["PATHWAY_IDLE_MINUTES"] == "30"  # the default
    r = runner.invoke(app, ["serve", "--db", sqlite_url, "--idle-minutes", "0"])
    assert r.exit_code == 2 and "--idle-minutes" in r.output


def test_serve_hands_the_path_prefix_to_its_workers(
    captured: dict[str, Any], sqlite_url: str
) -> None:
    import os

    r = runner.invoke(app, ["serve", "--db", sqlite_url, "--root-path", "/pathway/"])
    assert r.exit_code == 0, r.output
    assert os.environ["PATHWAY_ROOT_PATH"] == "/pathway" and "under /pathway/" in r.output
    # the app sets each request's root_path itself; uvicorn is given none to add a second time
    assert "root_path" not in captured
    r = runner.invoke(app, ["serve", "--db", sqlite_url])
    assert r.exit_code == 0 and os.environ["PATHWAY_ROOT_PATH"] == ""  # the default: none
    assert "under" not in r.output
    r = runner.invoke(app, ["serve", "--db", sqlite_url, "--root-path", "pathway"])
    assert r.exit_code == 2 and "--root-path" in r.output and "/pathway" in r.output


@pytest.mark.postgres
def test_serve_never_prints_the_password(captured: dict[str, Any], pg_url: str) -> None:
    url = pg_url.replace("://postgres@", "://postgres:s3cret-pw@")
    assert "s3cret-pw" in url  # the server trusts local connections: any password does
    r = runner.invoke(app, ["serve", "--db", url])
    assert r.exit_code == 0, r.output
    assert "s3cret-pw" not in r.output and "***" in r.output


def test_serve_hands_the_body_limit_to_its_workers(
    captured: dict[str, Any], sqlite_url: str
) -> None:
    import os

    r = runner.invoke(app, ["serve", "--db", sqlite_url, "--max-body-mb", "8"])
    assert r.exit_code == 0, r.output
    assert os.environ["PATHWAY_MAX_BODY_MB"] == "8"
    r = runner.invoke(app, ["serve", "--db", sqlite_url])
    assert r.exit_code == 0 and os.environ["PATHWAY_MAX_BODY_MB"] == "1"  # the default
    r = runner.invoke(app, ["serve", "--db", sqlite_url, "--max-body-mb", "101"])
    assert r.exit_code == 2 and "--max-body-mb" in r.output
