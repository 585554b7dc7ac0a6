"""`--json`: one stable JSON document per reporting command (shapes in docs/OPERATIONS.md)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import TEST_HOME
from tests.ops.conftest import Exchange

pytestmark = pytest.mark.broker


def _json(done: object) -> dict[str, object]:
    assert done.returncode == 0, done.stderr  # type: ignore[attr-defined]
    return json.loads(done.stdout)  # type: ignore[attr-defined, no-any-return]


def test_broker_status_and_topics_apply_report_json(exchange: Exchange) -> None:
    port = exchange.kafka.bootstrap.rsplit(":", 1)[1]
    local = {"DOCBUS_HOME": str(TEST_HOME), "DOCBUS_BROKER_PORT": port}
    status = _json(exchange.run("broker", "status", "--json", **local))
    assert status["running"] is True and status["bootstrap"] == exchange.kafka.bootstrap
    assert {"node", "pid", "port", "controller_port", "data"} <= set(status["nodes"][0])  # type: ignore[index]
    plan = _json(exchange.run("topics", "apply", "--json"))
    assert set(plan) == {"created", "unchanged", "drift", "warnings"}
    # every active org of the signed directory has its inbox
    assert {"docbus.inbox.H01", "docbus.inbox.G03.U002", "docbus.ingress"} <= set(plan["unchanged"])  # type: ignore[arg-type]
    assert "docbus.inbox.H64" not in plan["unchanged"]  # type: ignore[operator]


def test_inbox_lists_as_json(exchange: Exchange) -> None:
    listed = _json(exchange.run("inbox", "--org", "G03.U002", "--json"))
    assert set(listed) == {"org", "handled", "documents", "receipts", "rejected"}
    assert listed["org"] == "G03.U002"
