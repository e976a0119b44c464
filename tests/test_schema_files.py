"""The JSON Schemas shipped in definitions/ are generated from the models and must not go stale."""

from __future__ import annotations

import json

import pytest

from pathway.schemas import SCHEMA_FILES, schema_for
from pathway.yamlio import definitions_dir


@pytest.mark.parametrize("what", sorted(SCHEMA_FILES))
def test_schema_file_is_current(what: str) -> None:
    path = definitions_dir() / SCHEMA_FILES[what]
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    assert on_disk == schema_for(what), (  # type: ignore[arg-type]
        f"{path.name} is stale: run `make schemas` (python tools/gen_schemas.py)"
    )


def test_definition_schema_names_every_predicate() -> None:
    from pathway.predicates import PREDICATE_NAMES

    text = json.dumps(schema_for("definition"))
    for name in PREDICATE_NAMES:
        assert f'"{name}"' in text
