"""A small clinic for the page and browser tests: the shipped examples, one fresh patient, and
one account per role (two coordinators), on a SQLite file, with the clock fixed."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import yaml

from engine import FixedClock, Services, SqlUnitOfWork, init_db, make_engine
from engine.web.accounts import Accounts

TODAY = dt.date(2026, 6, 1)
PASSWORD = "correct-horse-42"
USERS = {
    "coord1": "coordinator",
    "coord2": "coordinator",
    "clin": "clinician",
    "qual": "quality",
    "admin": "admin",
}
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
DEFINITIONS = Path(__file__).resolve().parents[3] / "definitions"
LEGACY = "V1-0001"
FRESH = "P-0001"  # at reassess with a baseline score only: the tests record a PHQ-9 for them


def fresh_record() -> dict[str, object]:
    return {
        "id": FRESH,
        "sex": "female",
        "birth_year": 1980,
        "episode_start": "2026-01-01",
        "trials": [
            {
                "drug": "sertraline",
                "start": "2026-02-02",
                "doses": [{"from": "2026-02-02", "mg_per_day": 150}],
                "adherence": 0.9,
            }
        ],
        "measurements": [{"date": "2026-02-01", "instrument": "PHQ-9", "score": 19}],
        "screens": [
            {
                "date": "2026-02-01",
                "instrument": "MDQ",
                "score": 2,
                "same_period": False,
                "impairment": "none",
            }
        ],
    }


def seed(url: str) -> list[str]:
    """Create the schema, enroll the patients, add the accounts; the patient ids, sorted."""
    engine = make_engine(url)
    try:
        init_db(engine)
        svc = Services(SqlUnitOfWork(engine), clock=FixedClock(TODAY))
        ids = []
        for path in sorted(EXAMPLES.glob("*.*")):
            if path.suffix not in (".json", ".yaml"):
                continue
            text = path.read_text(encoding="utf-8")
            record = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
            svc.enroll(record["id"], actor="seed", record=record, effective=dt.date(2026, 1, 5))
            ids.append(record["id"])
        svc.enroll(FRESH, actor="seed", record=fresh_record(), effective=dt.date(2026, 2, 2))
        # at reassess the guards turn on the trial's outcome: unknown until a score is recorded
        svc.advance(FRESH, trigger="reassess", actor="seed", effective=dt.date(2026, 5, 25))
        ids.append(FRESH)
        # one patient still on version 1.0.0, so two versions are stored (the definition diff)
        legacy = json.loads((EXAMPLES / "05-remission.json").read_text(encoding="utf-8"))
        legacy["id"] = LEGACY
        svc.enroll(
            LEGACY,
            actor="seed",
            record=legacy,
            definition=DEFINITIONS / "trd-1.0.0.yaml",
            effective=dt.date(2026, 1, 5),
        )
        ids.append(LEGACY)
        accounts = Accounts(engine)
        for name, role in USERS.items():
            accounts.add_user(name, role=role, password=PASSWORD)
        svc.close()
    finally:
        engine.dispose()
    return sorted(ids)
