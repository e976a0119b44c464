"""Property test of the API against its own OpenAPI document (schemathesis): no generated
request, valid or not, gets a 5xx (bounded: a few examples per operation, so it runs in CI in
well under a minute)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from engine.web.accounts import Role
from tests.web.api.conftest import Clinic


def _role(path: str) -> Role:
    if path.endswith("/override"):
        return Role.clinician
    return Role.admin if path == "/api/v1/audit" else Role.coordinator


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_request_gets_a_5xx(clinic: Clinic, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", clinic.app)
    strategies = []
    for result in schema.get_all_operations():
        operation = result.ok()
        strategies.append(operation.as_strategy(generation_mode=mode))
    assert len(strategies) >= 12
    errors: list[str] = []

    @settings(
        max_examples=60,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def check(case: Any) -> None:
        headers = {"Authorization": f"Bearer {clinic.tokens[_role(case.path)]}"}
        response = case.call(headers=headers)
        if response.status_code >= 500:
            errors.append(f"{case.method} {case.formatted_path}: {response.status_code}")

    check()
    assert errors == []
