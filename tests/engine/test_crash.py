"""Crash safety: a bulk import killed with SIGKILL leaves no partial patient and `verify` clean;
importing again with --skip-existing completes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.factlog import facts_of
from engine.services import Services
from pathway.record import parse_record

N = 1500


def records() -> list[dict[str, Any]]:
    out = []
    for i in range(N):
        start = f"2025-{1 + i % 12:02d}-{1 + i % 27:02d}"
        out.append(
            {
                "id": f"C-{i:05d}",
                "trials": [
                    {
                        "drug": ("sertraline", "escitalopram", "venlafaxine")[i % 3],
                        "start": start,
                        "doses": [{"from": start, "mg_per_day": (100, 20, 200)[i % 3]}],
                        "adherence": 0.9,
                    }
                ],
                "measurements": [{"date": start, "instrument": "PHQ-9", "score": 10 + i % 17}],
                "contributors": [{"kind": "stressor", "status": "active", "date": start}]
                if i % 5 == 0
                else [],
            }
        )
    return out


def enrolled(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            return int(c.exec_driver_sql("SELECT count(*) FROM enrollment").scalar_one())
    except sa.exc.OperationalError:  # the writer holds a lock for a moment
        return 0
    finally:
        engine.dispose()


def run_import(url: str, path: Path, *extra: str) -> subprocess.Popen[bytes]:
    code = "from engine.cli import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, "import", str(path), "--db", url, *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "USER": "importer"},
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


def test_sigkill_during_import_leaves_only_whole_patients(
    db_url: str, tmp_path: Path, make_services: Callable[..., Services]
) -> None:
    data = records()
    path = tmp_path / "cohort.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in data), encoding="utf-8")
    proc = run_import(db_url, path)
    deadline = time.monotonic() + 60
    while enrolled(db_url) < 50:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
        assert time.monotonic() < deadline, "the import made no progress"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    svc = make_services(db_url)
    report = svc.verify(deep=True)
    assert report.ok, report.mismatches[:5]
    assert 50 <= report.patients < N  # killed part-way
    by_id = {r["id"]: r for r in data}
    expected_events = 0
    with svc.uow as uow:
        for head, log in uow.patients.iter_patients():
            record = parse_record(by_id[head.patient_id])
            assert len(log) == 1 + len(facts_of(record))  # no partial patient
            expected_events += len(log)
    assert report.events == expected_events
    for pid in list(by_id)[: report.patients : 97]:  # spot-check whole records
        assert svc.record_of(pid) == parse_record(by_id[pid])

    again = run_import(db_url, path, "--skip-existing", "--batch-size", "200")
    assert again.wait(timeout=120) == 0, again.stderr.read() if again.stderr else b""
    final = svc.verify()
    assert final.ok and final.patients == N
