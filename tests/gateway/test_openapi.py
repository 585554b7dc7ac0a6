"""The OpenAPI 3.1 document: the committed docs/openapi.json is what a live gateway serves, and
schemathesis finds no 5xx and no answer outside the document (bounded examples per operation)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.gateway.conftest import UNI, Exchange

pytestmark = pytest.mark.broker
COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_the_committed_document_is_the_served_one(exchange: Exchange) -> None:
    served = httpx.get(f"{exchange.uni.url}/openapi.json").json()
    assert served["openapi"].startswith("3.1")
    assert json.loads(COMMITTED.read_text(encoding="utf-8")) == served, (
        "docs/openapi.json is stale: .venv/bin/docbus gateway openapi > docs/openapi.json"
    )


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _as_uni(case: schemathesis.Case) -> schemathesis.Case:
    """Requests for the org the client is granted (a foreign org is a 403 before anything else),
    answered at once (a long poll of up to 60 s is tested where it has something to wait for)."""
    if case.path_parameters and "org" in case.path_parameters:
        case.path_parameters["org"] = UNI
    if isinstance(case.query, dict) and "wait" in case.query:
        case.query["wait"] = 0
    return case


def _fuzz(operation: schemathesis.APIOperation, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy().map(_as_uni))
    @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)  # fmt: skip
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def test_no_server_error_and_answers_match_the_document(exchange: Exchange) -> None:
    """Every operation of the live document, a few generated requests each."""
    schema = schemathesis.openapi.from_url(f"{exchange.uni.url}/openapi.json")
    bearer = {"Authorization": f"Bearer {exchange.uni.token()}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        _fuzz(operation, {} if operation.path == "/oauth/token" else bearer)
