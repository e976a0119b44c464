"""The web audit's items 8 and 11 (scratch/audit-web/report.md): a refused record form names each
field by its label, with the value typed and the reason, next to the field and in the summary
(never the record's internal paths); the MDQ's impairment is labelled as needed; and the cohort
exports say which kept counts they were drawn from, while the same counts draw the same PNG bytes
in any fresh process."""

from __future__ import annotations

import hashlib
import html
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from engine import FixedClock, Services
from engine.web import create_app
from engine.web.accounts import Role

sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))
from seed import FRESH, PASSWORD, TODAY, USERS, fresh_record, seed

ROOT = Path(__file__).resolve().parents[2]
USER_OF = {Role(role): name for name, role in reversed(USERS.items())}
INTERNAL = re.compile(r"\[\d+\]|measurements\[|trials\[|screens\[|Field required|Input should")


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FastAPI]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('forms_exports') / 'clinic.db'}"
    seed(url)
    made = create_app(url, clock=FixedClock(TODAY))
    yield url, made
    made.state.web.engine.dispose()


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found[1]


def client(app: FastAPI, role: Role) -> TestClient:
    c = TestClient(app, follow_redirects=False)
    token = csrf(c.get("/login").text)
    r = c.post(
        "/login", data={"username": USER_OF[role], "password": PASSWORD, "csrf_token": token}
    )
    assert r.status_code == 303, r.text
    return c


def version_of(url: str, pid: str) -> int:
    svc = Services.from_url(url, clock=FixedClock(TODAY))
    try:
        return svc.status(pid).version
    finally:
        svc.close()


def post_form(c: TestClient, form: str, data: dict[str, str]) -> tuple[int, str]:
    page = c.get(f"/patients/{FRESH}").text
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version is not None
    r = c.post(
        f"/patients/{FRESH}/record/{form}",
        data={**data, "csrf_token": csrf(page), "version": version[1]},
    )
    return r.status_code, r.text


def summary_of(page: str) -> list[str]:
    alert = re.search(r'<div class="alert" role="alert">(.*?)</div>', page, re.S)
    assert alert is not None, "no summary of what was refused"
    return [
        html.unescape(re.sub(r"<[^>]+>", "", li)) for li in re.findall(r"<li>(.*?)</li>", alert[1])
    ]


def field_error(page: str, form: str, field: str) -> str:
    """The message shown next to a field, checking the field points at it."""
    fid = f"{form}-{field}"
    tag = re.search(rf'<(?:input|select|textarea)[^>]*id="{fid}"[^>]*>', page)
    assert tag is not None, fid
    assert 'aria-invalid="true"' in tag[0] and f"{fid}-error" in tag[0], tag[0]
    shown = re.search(rf'<span id="{fid}-error" class="field-error">(.*?)</span>', page)
    assert shown is not None, fid
    return html.unescape(shown[1])


# -- item 8: refused forms in the form's words -------------------------------------------------

BASE = {"date": "2026-05-01"}


@pytest.mark.parametrize(
    ("form", "data", "field", "expected"),
    [
        (
            "measurement",
            {**BASE, "instrument": "PHQ-9", "score": "99"},
            "score",
            "Score: 99 is above the PHQ-9 maximum of 27",
        ),
        (
            "measurement",
            {"date": "2026-13-01", "instrument": "PHQ-9", "score": "5"},
            "date",
            "Date: 2026-13-01 is not a valid date",
        ),
        (
            "measurement",
            {"date": "1900-01-01", "instrument": "PHQ-9", "score": "5"},
            "date",
            "Date: 1900-01-01 is before the birth year 1980",
        ),
        (
            "measurement",
            {"date": "2027-01-01", "instrument": "PHQ-9", "score": "5"},
            "date",
            "Date: 2027-01-01 is in the future",
        ),
        (
            "measurement",
            {**BASE, "instrument": "PHQ-9", "score": "many"},
            "score",
            "Score: many is not a whole number",
        ),
        (  # int() would take these: ASCII digits only, as typed on a clinic's keyboard
            "measurement",
            {**BASE, "instrument": "PHQ-9", "score": "1_5"},
            "score",
            "Score: 1_5 is not a whole number",
        ),
        (
            "measurement",
            {**BASE, "instrument": "PHQ-9", "score": "\u0661\u0665"},
            "score",
            "Score: \u0661\u0665 is not a whole number",
        ),
        (
            "lab",
            {**BASE, "test": "TSH", "value": "1e1", "unit": "mIU/L"},
            "value",
            "Value: 1e1 is not a number",
        ),
        (
            "lab",
            {**BASE, "test": "TSH", "value": "nan", "unit": "mIU/L"},
            "value",
            "Value: nan is not a number",
        ),
        (
            "screen",
            {**BASE, "instrument": "AUDIT-C", "score": "30"},
            "score",
            "Score: 30 is above the AUDIT-C maximum of 12",
        ),
        (
            "lab",
            {**BASE, "test": "TSH", "value": "-2", "unit": "mIU/L"},
            "value",
            "Value: -2 is below the minimum of 0",
        ),
        (
            "trial_started",
            {
                "drug": "fooxetine",
                "role": "antidepressant",
                "start": "2026-05-01",
                "mg_per_day": "50",
            },
            "drug",
            "Drug: unknown drug 'fooxetine'",
        ),
        (
            "trial_started",
            {
                "drug": "sertraline",
                "role": "antidepressant",
                "start": "1900-05-01",
                "mg_per_day": "5",
            },
            "start",
            "Start date: 1900-05-01 is before the birth year 1980",
        ),
        (
            "dose_changed",
            {"trial": "0", "from": "2026-01-01", "mg_per_day": "50"},
            "from",
            "From date: 2026-01-01",
        ),
        (
            "dose_changed",
            {"trial": "7", "from": "2026-05-01", "mg_per_day": "50"},
            "trial",
            "Trial: no trial #7 on record",
        ),
        (
            "trial_ended",
            {"trial": "0", "end": "2026-05-01", "stop_reason": "bored"},
            "stop_reason",
            "Why it stopped: bored is not one of the choices",
        ),
        (
            "procedure",
            {"kind": "rTMS", "start": "2026-05-01", "sessions": "-3"},
            "sessions",
            "Sessions so far: -3 is below the minimum of 0",
        ),
    ],
)
def test_a_refused_field_is_named_by_its_label_with_value_and_reason(
    clinic: tuple[str, FastAPI], form: str, data: dict[str, str], field: str, expected: str
) -> None:
    url, app = clinic
    c = client(app, Role.coordinator)
    before = version_of(url, FRESH)
    status, page = post_form(c, form, data)
    assert status == 422
    assert version_of(url, FRESH) == before  # nothing written
    summary = summary_of(page)
    assert len(summary) == 1 and summary[0].startswith(expected), summary
    assert not INTERNAL.search(summary[0]), summary
    assert field_error(page, form, field) == summary[0]
    assert f'href="#{form}-{field}"' in page  # the summary leads to the field
    # only the refused form's field is marked
    assert page.count('aria-invalid="true"') == 1


def test_the_mdq_impairment_is_labelled_as_needed_and_refused_when_missing(
    clinic: tuple[str, FastAPI],
) -> None:
    url, app = clinic
    c = client(app, Role.coordinator)
    page = c.get(f"/patients/{FRESH}").text
    label = re.search(r'<label for="screen-impairment">(.*?)</label>', page, re.S)
    assert label is not None
    assert "optional" not in label[1] and "needed for the MDQ" in label[1]
    before = version_of(url, FRESH)
    status, page = post_form(c, "screen", {**BASE, "instrument": "MDQ", "score": "3"})
    assert status == 422 and version_of(url, FRESH) == before
    assert summary_of(page) == ["MDQ impairment: this field is needed for the MDQ"]
    assert field_error(page, "screen", "impairment") == summary_of(page)[0]
    # another screen does not ask for it; an MDQ with it is recorded
    status, _ = post_form(c, "screen", {**BASE, "instrument": "AUDIT-C", "score": "2"})
    assert status == 303
    data = {**BASE, "instrument": "MDQ", "score": "3", "impairment": "minor"}
    status, _ = post_form(c, "screen", data)
    assert status == 303 and version_of(url, FRESH) == before + 2


def test_the_override_note_is_named_next_to_its_field(clinic: tuple[str, FastAPI]) -> None:
    _, app = clinic
    c = client(app, Role.clinician)
    page = c.get(f"/patients/{FRESH}").text
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version is not None
    r = c.post(
        f"/patients/{FRESH}/override",
        data={
            "csrf_token": csrf(page),
            "version": version[1],
            "to": "exited",
            "reason": "safety",
            "note": "  ",
        },
    )
    assert r.status_code == 422
    assert summary_of(r.text) == ["Note: say why in a note"]
    assert field_error(r.text, "override", "note") == "Note: say why in a note"


# -- item 11: which counts an export holds; the same counts draw the same PNG -----------------


def test_exports_say_which_kept_counts_they_hold_and_fresh_counts_again(
    clinic: tuple[str, FastAPI],
) -> None:
    """The audit's first PNG (543,317 bytes) and the later ones (543,366) held different counts:
    the audit had enrolled a patient, the first download came from counts kept from before (up to
    10 minutes, while they are counted again in the background) and the later ones from the
    recount. The exports now say so, like the API, and `fresh` counts before answering."""
    url, app = clinic
    c = client(app, Role.quality)
    first = c.get("/quality/cohort.json?fresh=true")
    assert first.status_code == 200
    assert first.headers["x-records-changed-since"] == "false"
    assert first.headers["x-computed-at"]
    record = {**fresh_record(), "id": "P-0099"}
    svc = Services.from_url(url, clock=FixedClock(TODAY))
    try:
        svc.enroll("P-0099", actor="test", record=record, effective=TODAY)
    finally:
        svc.close()
    kept = c.get("/quality/cohort.json")
    assert kept.content == first.content  # the kept counts, from before the enrollment
    assert kept.headers["x-records-changed-since"] == "true"
    assert kept.headers["x-computed-at"] == first.headers["x-computed-at"]
    recounted = c.get("/quality/cohort.json?fresh=true")
    assert recounted.headers["x-records-changed-since"] == "false"
    assert recounted.content != first.content


RENDER_PNG = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {browser!r})
    from fastapi.testclient import TestClient
    from seed import TODAY
    from engine import FixedClock
    from engine.web import create_app

    app = create_app({url!r}, clock=FixedClock(TODAY))
    token = app.state.web.accounts.create_token(sys.argv[1], role="quality")
    c = TestClient(app, headers={{"Authorization": f"Bearer {{token}}"}})
    r = c.get("/quality/cohort.png")
    assert r.status_code == 200, r.text
    sys.stdout.buffer.write(r.content)
    """
)


def test_the_cohort_png_is_the_same_bytes_from_two_fresh_processes(
    tmp_path: Path,
) -> None:
    """No first-use difference (font cache, DOT source): the same counts give the same file."""
    if shutil.which("dot") is None:
        pytest.skip("the Graphviz `dot` program is not installed")
    url = f"sqlite:///{tmp_path / 'png.db'}"
    seed(url)
    script = RENDER_PNG.format(browser=str(ROOT / "tests" / "web" / "browser"), url=url)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def render(name: str) -> bytes:
        done = subprocess.run(
            [sys.executable, "-c", script, name],
            capture_output=True,
            check=True,
            cwd=ROOT,
            env=env,
            timeout=60,
        )
        return done.stdout

    first, second = render("png-first"), render("png-second")
    assert first.startswith(b"\x89PNG")
    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(second).hexdigest()


def test_the_end_a_trial_form_can_say_it_corrects_an_end() -> None:
    # a second end is refused unless it says it corrects the first (the history keeps both)
    from engine.web.pages.facts_form import fact_from_form

    fields = {"trial": "0", "end": "2026-01-05", "stop_reason": "", "adherence": ""}
    assert fact_from_form("trial_ended", fields)["correction"] is False
    corrected = fact_from_form("trial_ended", {**fields, "correction": "on"})
    assert corrected == {"fact": "trial_ended", "trial": 0, "end": "2026-01-05", "correction": True}
