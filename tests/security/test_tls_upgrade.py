"""Upgrading a PKI folder made before the broker checked CRLs (docs/OPERATIONS.md, "Upgrading a PKI
folder"): its issuing CA and TLS certificates name no CRL, and a JVM checking revocation refuses
every handshake with them, its own controller's included. `docbus broker start` refuses first,
before any JVM runs, naming the certificates and the command; `docbus pki reissue-tls` certifies
them again (same keys, same validity); then the broker starts and an org connects over mTLS.

The broker here is its own (own home, PKI and port: DOCBUS_TEST_SECURE_PORT + 40), run by the
commands an operator types."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from cryptography import x509

from infra.pki.authority import Authority
from infra.pki.tls import issue_tls, reissue_tls, revocation_gaps, stale_crls, tls_files
from infra.security import ADMIN, SERVICES, issue_service_identities
from schemas.connection import KafkaConnection
from tests.security.legacy_pki import without_crl_points
from tests.workers import port

PORT = port("DOCBUS_TEST_SECURE_PORT") + 40
ORG = "G03.15"
PASSPHRASE = "upgrade-test"


@dataclass(frozen=True)
class Folder:
    home: Path
    pki: Path
    seal: x509.Certificate | None = None  # issued before the upgrade: stays valid under the re-certified CA

    def docbus(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCBUS_")}
        env |= {"DOCBUS_HOME": str(self.home), "DOCBUS_PKI_DIR": str(self.pki), "DOCBUS_INSECURE": "0",
                "DOCBUS_BROKER_PORT": str(PORT), "DOCBUS_PKI_PASSPHRASE": PASSPHRASE}  # fmt: skip
        return subprocess.run(
            [sys.executable, "-m", "docbus.cli", *args], env=env, capture_output=True, text=True, timeout=180
        )


def _legacy(home: Path) -> Folder:
    pki = home / "pki"
    authority = Authority.init(pki, PASSPHRASE.encode())
    issue_service_identities(authority)
    issue_tls(authority, ORG)
    seal = authority.issue_org(ORG, "Trường Đại học A").cert
    without_crl_points(authority, [*SERVICES, ORG])
    return Folder(home, pki, seal)


@pytest.fixture
def legacy(tmp_path: Path) -> Iterator[Folder]:
    folder = _legacy(tmp_path)
    try:
        yield folder
    finally:
        folder.docbus("broker", "stop")


def _connects(conn: KafkaConnection) -> bool:
    async def attempt() -> bool:
        producer = AIOKafkaProducer(**conn.client_kwargs(), request_timeout_ms=10_000)
        try:
            await producer.start()
            return True
        finally:
            await producer.stop()

    return asyncio.run(attempt())


@pytest.mark.broker
def test_an_old_pki_folder_is_refused_then_reissued_and_the_broker_starts(legacy: Folder) -> None:
    refused = legacy.docbus("broker", "start")
    assert refused.returncode == 4, refused.stdout + refused.stderr
    message = " ".join(refused.stderr.split())
    assert f"docbus pki reissue-tls --dir {legacy.pki}" in refused.stderr  # on one line, to copy
    for held in ("ca/issuing.pem: CN=docbus Issuing CA 1", "tls/docbus-broker/bundle.pem: CN=docbus-broker",
                 f"tls/{ORG}/cert.pem: CN={ORG}", "names no CRL"):  # fmt: skip
        assert held in message, refused.stderr
    assert not (legacy.home / "broker" / "node-1" / "server.log").exists()  # no JVM was started

    reissued = legacy.docbus("pki", "reissue-tls")
    assert reissued.returncode == 0, reissued.stdout + reissued.stderr
    assert "issuing CA: serial" in reissued.stdout and f"{ORG}: serial" in reissued.stdout
    assert revocation_gaps(legacy.pki) == []
    again = legacy.docbus("pki", "reissue-tls")
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout + again.stderr

    # the same keys: the seal the CA issued before still chains to the re-certified CA
    authority = Authority(legacy.pki, PASSPHRASE.encode())
    assert legacy.seal is not None
    legacy.seal.verify_directly_issued_by(authority.issuing_cert)
    old_key = tls_files(legacy.pki, ORG).key.read_bytes()
    assert old_key in tls_files(legacy.pki, ORG).bundle.read_bytes()

    started = legacy.docbus("broker", "start")
    assert started.returncode == 0, started.stdout + started.stderr
    bootstrap = f"127.0.0.1:{PORT}"
    assert _connects(KafkaConnection(bootstrap=bootstrap, tls=tls_files(legacy.pki, ORG).paths))
    assert _connects(KafkaConnection(bootstrap=bootstrap, tls=tls_files(legacy.pki, ADMIN).paths))


def test_a_revoked_login_is_never_certified_again(tmp_path: Path) -> None:
    folder = _legacy(tmp_path)
    authority = Authority(folder.pki, PASSPHRASE.encode())
    leaf = x509.load_pem_x509_certificates(tls_files(folder.pki, ORG).cert.read_bytes())[0]
    assert any(g.path.parent.name == ORG for g in revocation_gaps(folder.pki))  # a live login: named
    authority.revoke(f"{leaf.serial_number:x}", x509.ReasonFlags.key_compromise)
    assert not any(g.path.parent.name == ORG for g in revocation_gaps(folder.pki))  # revoked: refused anyway

    done = reissue_tls(authority)

    assert tls_files(folder.pki, ORG).cert in done.skipped
    assert x509.load_pem_x509_certificates(tls_files(folder.pki, ORG).cert.read_bytes())[0] == leaf
    assert revocation_gaps(folder.pki) == []  # the revoked login stays as it was: refused, as it should be
    assert {e.code for e in authority.entries if e.kind == "tls" and e.revoked_at is None} == set(SERVICES)


def test_a_fresh_pki_folder_has_no_gaps_and_a_moved_one_is_certified_for_its_new_place(
    tmp_path: Path,
) -> None:
    authority = Authority.init(tmp_path / "pki", PASSPHRASE.encode())
    issue_service_identities(authority)
    assert revocation_gaps(authority.folder) == []
    assert reissue_tls(authority).logins == {}

    moved = tmp_path / "moved"
    shutil.copytree(authority.folder, moved)
    gaps = revocation_gaps(moved)
    assert {g.path.relative_to(moved).parts[0] for g in gaps} == {"ca", "tls"}
    assert all(g.named and str(authority.folder) in g.named[0] and "not" in g.problem for g in gaps)
    done = reissue_tls(Authority(moved, PASSPHRASE.encode()))
    assert done.issuing_ca is not None and len(done.logins) == len(SERVICES)
    assert revocation_gaps(moved) == []


def test_expired_crls_are_refused_before_the_jvm_and_published_again(tmp_path: Path) -> None:
    """A CRL past its nextUpdate makes the CRL-checking JVM refuse every handshake, its own
    controller's included (observed: "Could not determine revocation status"): refused first."""
    authority = Authority.init(tmp_path / "pki", PASSPHRASE.encode())
    issue_service_identities(authority)
    authority.publish_crl(next_update=timedelta(minutes=1), now=datetime.now(UTC) - timedelta(hours=2))
    folder = Folder(tmp_path, authority.folder)

    refused = folder.docbus("broker", "start")
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert f"docbus pki crl --dir {folder.pki}" in refused.stderr
    assert "crl/issuing.crl.pem: expired" in refused.stderr and "crl/root.crl.pem: expired" in refused.stderr
    assert not (tmp_path / "broker" / "node-1" / "server.log").exists()  # no JVM was started

    published = folder.docbus("pki", "crl")
    assert published.returncode == 0, published.stdout + published.stderr
    assert stale_crls(folder.pki) == []
