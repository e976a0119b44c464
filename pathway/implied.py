"""Parameters earlier releases implied: filled into old stored definitions, left out of hashes."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from pathway.yamlio import definitions_dir, read_data

IMPLIED_FILE = "implied-parameters.yaml"


@cache
def implied() -> dict[str, dict[str, Any]]:
    """The implied parameters (`definitions/implied-parameters.yaml`), by name."""
    data, _ = read_data(definitions_dir() / IMPLIED_FILE)
    params: dict[str, dict[str, Any]] = data["parameters"]
    return params


def with_implied(definition: dict[str, Any]) -> dict[str, Any]:
    """A definition document with every implied parameter it lacks filled in (a new dict)."""
    params = definition.get("parameters")
    if not isinstance(params, dict):
        return definition
    missing = {k: v for k, v in implied().items() if k not in params}
    if not missing:
        return definition
    return {**definition, "parameters": {**params, **missing}}


def without_implied(definition: dict[str, Any]) -> dict[str, Any]:
    """A definition document without the parameters whose value is the implied one (a new dict):
    the form its content hash is taken of."""
    params = definition.get("parameters")
    if not isinstance(params, dict):
        return definition
    kept = {
        k: v
        for k, v in params.items()
        if k not in implied() or not _same(v.get("value"), implied()[k].get("value"))
    }
    return {**definition, "parameters": kept}


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
