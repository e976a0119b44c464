"""A database written by an earlier release keeps working after an upgrade.

`data/pathway-0007.db` was written by the release whose schema head was 0007 (2026-12-06): two
patients, EX-04 pinned to trd 1.0.0 and EX-01 pinned to trd 1.1.0, with the definitions' content
as that release stored it. Upgrading the schema, reading, verifying, writing to both patients and
enrolling a new one must all work, and the stored definitions' hashes must still match the pins.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from engine import FixedClock, Services, init_db, make_engine

OLD = Path(__file__).parent / "data" / "pathway-0007.db"
TODAY = dt.date(2026, 3, 1)


@pytest.fixture()
def services(tmp_path: Path):
    db = tmp_path / "old.db"
    shutil.copy(OLD, db)
    url = f"sqlite:///{db}"
    init_db(make_engine(url))
    svc = Services.from_url(url, clock=FixedClock(TODAY))
    yield svc
    svc.close()


def test_the_old_patients_read_verify_and_take_writes(services: Services) -> None:
    assert services.status("EX-04").definition.version == "1.0.0"
    assert services.status("EX-01").definition.version == "1.1.0"
    report = services.verify(deep=True)
    assert report.patients == 2 and report.ok, report
    for pid in ("EX-04", "EX-01"):
        before = services.status(pid).version
        services.record(
            pid,
            facts={"fact": "measurement", "date": "2026-02-20", "instrument": "PHQ-9", "score": 11},
            actor="test",
        )
        assert services.status(pid).version == before + 1
    assert services.verify(deep=True).ok


def test_a_new_enrollment_pins_the_shipped_definition_beside_the_old_ones(
    services: Services,
) -> None:
    record = {"id": "NEW-1", "sex": "female", "measurements": []}
    enrolled = services.enroll("NEW-1", record=record, actor="test")
    assert enrolled.definition.version == "1.1.0"
    assert services.verify(deep=True).ok
