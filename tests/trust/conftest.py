"""A small ministry PKI per test session: P-256 and Ed25519 keys, one RSA-2048 key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consumers.trust import TrustConfig, TrustPolicy, TrustStore
from infra.pki import Authority, Issued, KeyType
from producers.keys import FileKeyProvider, make_signature
from schemas.algorithms import Algorithm
from schemas.signature import Signature, SignerRole

PASS = b"test-passphrase"
DATA = b"docbus-envelope-v1\x00signing input bytes"


@dataclass
class Pki:
    authority: Authority
    seal: Issued  # G03, P-256
    official: Issued  # G03.15 (a unit of G03), P-256
    ed_seal: Issued  # ED1, Ed25519
    ed_official: Issued
    rsa_seal: Issued  # RS1, RSA-2048 (signs both PKCS#1 v1.5 and PSS)
    rsa_official: Issued  # RS1, P-256
    audit: Issued

    def store(self) -> TrustStore:
        return TrustStore([self.authority.root_cert], self.authority.crls())

    def policy(self, **config: object) -> TrustPolicy:
        return TrustPolicy(self.store(), TrustConfig(**config))  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    # CAs from about three years back, so certificates that expired long ago still chain
    a = Authority.init(
        tmp_path_factory.mktemp("pki") / "pki", PASS, now=datetime.now(UTC) - timedelta(days=1000)
    )
    pki = Pki(
        authority=a,
        seal=a.issue_org("G03", "Bộ Giáo dục và Đào tạo"),
        official=a.issue_official("G03.15", "Nguyễn Văn An", "Chánh Văn phòng"),
        ed_seal=a.issue_org("ED1", "Trường Đại học Ed", key_type=KeyType.ED25519),
        ed_official=a.issue_official("ED1", "Trần Thị Bình", "Hiệu trưởng", key_type=KeyType.ED25519),
        rsa_seal=a.issue_org("RS1", "Sở GD&ĐT RS", key_type=KeyType.RSA2048),
        rsa_official=a.issue_official("RS1", "Lê Văn Cường", "Giám đốc"),
        audit=a.issue_audit(),
    )
    a.publish_crl()
    return pki


@pytest.fixture
def sign() -> Callable[..., Signature]:
    def _sign(
        issued: Issued,
        role: SignerRole,
        data: bytes = DATA,
        algorithm: Algorithm | None = None,
        at: datetime | None = None,
    ) -> Signature:
        assert issued.key is not None
        return make_signature(FileKeyProvider(issued.key, issued.chain, algorithm), role, data, at)

    return _sign


def now() -> datetime:
    return datetime.now(UTC)


def key_path(issued: Issued) -> Path:
    assert issued.key_path is not None
    return issued.key_path
