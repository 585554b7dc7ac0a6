"""A revoked TLS certificate cannot connect to the broker (docs/SECURITY.md, "Revocation").

The secured test broker's JVM checks each client certificate at the handshake against the CRL its
distribution point names (the test PKI's crl/issuing.crl.pem). An org's login connects; once the PKI
revokes it and publishes its CRL, a new connection with it is refused, while another org's login
still connects. The JVM re-reads a CRL at most 30 s after its last read, so the refusal is awaited
(bounded), not assumed at once."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from cryptography import x509

from infra.pki.authority import Authority
from infra.pki.tls import issue_tls
from schemas.connection import KafkaConnection
from tests.conftest import TEST_PKI
from tests.security.conftest import ORG_A, PASSPHRASE, Secured

pytestmark = pytest.mark.broker
CRL_RELOAD = 30  # seconds the JVM keeps a CRL it read (sun.security.provider.certpath.URICertStore)


def _connects(conn: KafkaConnection) -> bool:
    async def attempt() -> bool:
        producer = AIOKafkaProducer(**conn.client_kwargs(), request_timeout_ms=5_000)
        try:
            await producer.start()
        except KafkaConnectionError:
            return False
        finally:
            await producer.stop()
        return True

    return asyncio.run(attempt())


def test_a_revoked_certificate_cannot_open_a_connection(secured: Secured) -> None:
    authority = Authority(TEST_PKI, PASSPHRASE)
    name = f"revoked-{uuid.uuid4().hex[:8]}"
    files = issue_tls(authority, name)
    conn = KafkaConnection(bootstrap=secured.bootstrap, tls=files.paths)
    assert _connects(conn)  # valid: the handshake passes (its CRL lists nothing of it)
    serial = x509.load_pem_x509_certificates(files.cert.read_bytes())[0].serial_number
    authority.revoke(f"{serial:x}", x509.ReasonFlags.key_compromise)  # publishes the CRL
    deadline = time.monotonic() + 3 * CRL_RELOAD
    while _connects(conn):
        assert time.monotonic() < deadline, f"{name} still connects {3 * CRL_RELOAD} s after its revocation"
    assert not _connects(conn)  # and stays refused
    assert _connects(secured.connection(ORG_A))  # another org's login is unaffected
