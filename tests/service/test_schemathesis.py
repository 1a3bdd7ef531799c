"""Schema-driven fuzzing of every operation in the OpenAPI schema: no server errors, documented answers.

The schema is loaded in a fixture (it needs the session's model store), and each operation's cases are
drawn from its hypothesis strategy with a bounded number of examples.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from service.app import create_app
from tests.service.conftest import API_KEY

MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]
OPERATIONS = [
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
    "POST /v1/score",
    "POST /v1/score/batch",
    "POST /v1/brief",
    "POST /v1/worklists",
    "GET /v1/payers",
    "GET /v1/payers/{payer_id}",
    "GET /v1/model",
    "POST /v1/outcomes",
    "GET /v1/claims/{claim_id}",
    "GET /v1/monitoring",
]


@pytest.fixture(scope="module")
def api_schema(settings):
    """The OpenAPI schema of a fresh app; schemathesis runs its lifespan (the model loads once)."""
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(settings))


def test_the_schema_lists_every_operation(api_schema):
    labels = sorted(result.ok().label for result in api_schema.get_all_operations())
    assert labels == sorted(OPERATIONS)


WITH_INPUT = [
    "POST /v1/score",
    "POST /v1/score/batch",
    "POST /v1/brief",
    "POST /v1/worklists",
    "GET /v1/payers/{payer_id}",
    "POST /v1/outcomes",
    "GET /v1/claims/{claim_id}",
    "GET /v1/monitoring",
]
#: Known schema gaps in routes this suite does not own; they stay visible as expected failures.
KNOWN_GAPS: dict = {}
CASES = [
    pytest.param(
        label,
        mode,
        id=f"{label} {mode.value}",
        marks=[pytest.mark.xfail(reason=KNOWN_GAPS[label, mode], strict=False)] if (label, mode) in KNOWN_GAPS else [],
    )
    for label, mode in [(label, GenerationMode.POSITIVE) for label in OPERATIONS]
    + [(label, GenerationMode.NEGATIVE) for label in WITH_INPUT]
]  # no invalid input without input


@pytest.mark.parametrize(("label", "mode"), CASES)
def test_no_server_errors(api_schema, label, mode):
    operation = next(result.ok() for result in api_schema.get_all_operations() if result.ok().label == label)

    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=SLOW_IS_FINE)
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case) -> None:
        case.call_and_validate(headers={"X-API-Key": API_KEY}, checks=CHECKS)

    check()
