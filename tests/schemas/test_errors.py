"""One error base: every project error is a DocbusError with a stable reason code; refusals are
told apart from transport failures (retriable or not, the cause kept) and local ones."""

from __future__ import annotations

import pickle

import pytest
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from consumers.audit.core.errors import AuditError
from docbus.demo.runner import DemoFailed
from infra.acls import AclError
from infra.broker import BrokerError
from infra.kafka_runtime import RuntimeMissing
from infra.quotas import QuotaError
from producers.keys import SigningError
from producers.publisher import PublishError
from producers.reader import ReadError
from schemas.errors import ContractError, DocbusError, OperationError, TransportError, TrustError, is_refusal
from schemas.reasons import Reason

LOCAL = [
    (SigningError, Reason.KEY_UNAVAILABLE),
    (RuntimeMissing, Reason.RUNTIME_MISSING),
    (BrokerError, Reason.BROKER_CONTROL),
    (AclError, Reason.ADMIN_FAILED),
    (QuotaError, Reason.ADMIN_FAILED),
    (DemoFailed, Reason.DEMO_FAILED),
]


@pytest.mark.parametrize(("cls", "reason"), LOCAL, ids=[c.__name__ for c, _ in LOCAL])
def test_local_failures_are_docbus_errors_with_their_reason(
    cls: type[OperationError], reason: Reason
) -> None:
    exc = cls("what went wrong")
    assert isinstance(exc, DocbusError) and exc.reason is reason and str(exc) == "what went wrong"
    assert not is_refusal(exc)
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is cls and again.reason is reason and again.detail == "what went wrong"


@pytest.mark.parametrize("cls", [PublishError, ReadError])
def test_transport_failures_keep_their_cause_and_say_whether_to_retry(cls: type[TransportError]) -> None:
    down = KafkaConnectionError("no route to host")
    try:
        raise cls.of("docbus.ingress: not acknowledged", down) from down
    except TransportError as exc:
        assert exc.__cause__ is down and exc.retriable and exc.reason is Reason.UNAVAILABLE
        assert "no route to host" in exc.detail and not is_refusal(exc)
    denied = cls.of("docbus.inbox.H01", TopicAuthorizationFailedError())
    assert not denied.retriable
    again = pickle.loads(pickle.dumps(denied))
    assert type(again) is cls and not again.retriable and again.detail == denied.detail


def test_refusals_are_refusals() -> None:
    for exc in (
        ContractError(Reason.MALFORMED, "x"),
        TrustError(Reason.CERT_REVOKED, "x"),
        AuditError(Reason.DIGEST_MISMATCH, "x"),
    ):
        assert is_refusal(exc)
    assert not is_refusal(ValueError("x"))
