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

from engine import FixedClock, Services, make_engine
from engine.upgrade import upgrade

OLD = Path(__file__).parent / "data" / "pathway-0007.db"
TODAY = dt.date(2026, 3, 1)


@pytest.fixture()
def services(tmp_path: Path):
    db = tmp_path / "old.db"
    shutil.copy(OLD, db)
    url = f"sqlite:///{db}"
    upgrade(make_engine(url))  # what `pathway init-db` does
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


def test_only_a_knowledge_value_other_than_the_implied_one_changes_the_hash(
    tmp_path: Path,
) -> None:
    from engine.store.definition_store import fingerprint
    from pathway.loader import load_definition
    from pathway.yamlio import definitions_dir

    shipped = definitions_dir() / "trd.yaml"
    text = shipped.read_text(encoding="utf-8")
    old = "value: [PHQ-9, QIDS-SR16, HAM-D17, MADRS]"
    assert text.count(old) == 1
    for catalog in ("drugs.yaml", "instruments.yaml"):
        (tmp_path / catalog).write_bytes((definitions_dir() / catalog).read_bytes())
    edited = tmp_path / "trd.yaml"
    edited.write_text(text.replace(old, "value: [QIDS-SR16, PHQ-9, HAM-D17, MADRS]"), "utf-8")
    stored = {"1.1.0": "5ca0a4d3791202d3"}  # the hash the 0007 release stored (see the .db)
    assert fingerprint(load_definition(shipped))[0].startswith(stored["1.1.0"])
    assert not fingerprint(load_definition(edited))[0].startswith(stored["1.1.0"])


@pytest.mark.parametrize(
    ("file", "version", "stored"),
    [("trd.yaml", "1.1.0", "5ca0a4d3791202d3"), ("trd-1.0.0.yaml", "1.0.0", "18175659fb71af92")],
)
def test_a_shipped_definition_keeps_the_content_its_version_was_stored_with(
    file: str, version: str, stored: str
) -> None:
    # Databases hold each version's content; a shipped file (or a catalog the versions share)
    # edited under the same version is refused there (DefinitionConflict): bump the version.
    from engine.store.definition_store import fingerprint
    from pathway.loader import load_definition
    from pathway.yamlio import definitions_dir

    definition = load_definition(definitions_dir() / file)
    assert definition.metadata.version == version
    assert fingerprint(definition)[0].startswith(stored), (
        f"{file} {version} no longer has the content databases stored for it: "
        "a changed definition (or drugs.yaml / instruments.yaml) needs a new version"
    )
