"""Who the broker lets in: only TLS certificates of the ministry PKI, never a signing certificate."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from infra.pki.authority import Authority
from infra.pki.tls import issue_tls
from tests.security.conftest import ORG_A, PASSPHRASE, Secured, client_security

pytestmark = pytest.mark.broker


async def connects(world: Secured, security: dict[str, object]) -> bool:
    p = AIOKafkaProducer(bootstrap_servers=world.bootstrap, request_timeout_ms=5_000, **security)
    try:
        await p.start()
        return True
    except KafkaConnectionError:
        return False
    finally:
        await p.stop()


def test_the_orgs_tls_certificate_is_let_in(secured: Secured) -> None:
    assert asyncio.run(connects(secured, secured.security(ORG_A)))


def test_same_name_from_another_ca_is_refused(secured: Secured, tmp_path: Path) -> None:
    """An impostor's own CA issuing CN=G03.15 gets nowhere: the broker trusts our root only."""
    rogue = Authority.init(tmp_path / "rogue", b"rogue")
    files = issue_tls(rogue, ORG_A)
    ctx = ssl.create_default_context(cafile=str(secured.tls[ORG_A].ca))  # still trusts the real broker
    ctx.load_cert_chain(str(files.cert), str(files.key))
    assert not asyncio.run(connects(secured, {"security_protocol": "SSL", "ssl_context": ctx}))
    assert asyncio.run(connects(secured, client_security(secured.tls[ORG_A])))  # control


def test_document_signing_certificate_is_not_a_login(secured: Secured) -> None:
    """The org's seal (documentSigning EKU, nonRepudiation) from the same CA is refused for TLS."""
    seal = Authority(secured.pki, PASSPHRASE).issue_org(ORG_A, "Vụ Giáo dục Đại học")
    assert seal.key_path is not None
    ctx = ssl.create_default_context(cafile=str(secured.tls[ORG_A].ca))
    ctx.load_cert_chain(str(seal.cert_path), str(seal.key_path), password=PASSPHRASE)
    assert not asyncio.run(connects(secured, {"security_protocol": "SSL", "ssl_context": ctx}))
