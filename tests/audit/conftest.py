"""Shared builders: an Ed25519 audit key with a self-signed certificate, and signed logs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from consumers.audit.core.chain import AuditChain
from consumers.audit.core.checkpoint import AuditPublicKey, CheckpointSigner
from consumers.audit.core.merkle import MerkleTree
from consumers.audit.core.seal import RecordSealer
from consumers.audit.core.sieve import Stored
from schemas.algorithms import Algorithm
from schemas.audit import AuditEvent
from schemas.codec import encode

T0 = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def self_signed(key: ed25519.Ed25519PrivateKey, name: str = "docbus audit") -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0 - timedelta(days=1))
        .not_valid_after(T0 + timedelta(days=365))
        .sign(key, None)
    )
    return cert.public_bytes(serialization.Encoding.DER)


@dataclass
class AuditKey:
    private: ed25519.Ed25519PrivateKey
    signer: CheckpointSigner

    @property
    def keys(self) -> dict[str, AuditPublicKey]:
        return {self.signer.key_id: self.private.public_key()}


def make_key(name: str = "docbus audit") -> AuditKey:
    private = ed25519.Ed25519PrivateKey.generate()
    signer = CheckpointSigner.from_certificate(private.sign, Algorithm.ED25519, [self_signed(private, name)])
    return AuditKey(private, signer)


@pytest.fixture(scope="session")
def audit_key() -> AuditKey:
    return make_key()


@dataclass
class Log:
    records: list[bytes]
    hashes: list[bytes]
    tree: MerkleTree
    checkpoints: list[bytes]
    seals: list[bytes]  # each record's seal by the audit key, as the writer stores it beside it

    @property
    def sealed(self) -> list[Stored]:
        return [Stored(r, s) for r, s in zip(self.records, self.seals, strict=True)]


def append_event(chain: AuditChain, i: int) -> tuple[bytes, bytes]:
    kinds = [AuditEvent.SUBMITTED, AuditEvent.ACCEPTED, AuditEvent.ROUTED, AuditEvent.DELIVERED]
    event = kinds[i % len(kinds)]
    appended = chain.append(
        event,
        at=T0 + timedelta(seconds=i),
        message_id=f"5f0c9a4e-0000-4000-8000-{i // 4:012d}",
        sender="G03.15",
        recipient="H41" if event in (AuditEvent.ROUTED, AuditEvent.DELIVERED) else None,
        detail=f"event {i}",
        stored_hash=bytes([i // 4 % 256]) * 32,
    )
    return appended.stored, appended.hash


def build_log(n: int, sizes: Sequence[int], key: AuditKey, *, variant: int = 0) -> Log:
    """n records; ``variant`` gives another history of the same shape."""
    chain, tree = AuditChain(), MerkleTree()
    records, hashes = [], []
    for i in range(n):
        stored, digest = append_event(chain, i + variant)
        records.append(stored)
        hashes.append(digest)
    tree.extend(hashes)
    checkpoints = [sign_at(tree, hashes, size, key, seconds=size) for size in sizes]
    sealer = RecordSealer(key.signer)
    seals = [sealer.seal(hashes[0], h) for h in hashes]
    return Log(records, hashes, tree, checkpoints, seals)


def sign_at(
    tree: MerkleTree, hashes: Sequence[bytes], size: int, key: AuditKey, *, seconds: int = 0
) -> bytes:
    last = hashes[size - 1] if size else bytes(32)
    checkpoint = key.signer.sign(size, tree.root(size), last, T0 + timedelta(hours=1, seconds=seconds))
    return encode(checkpoint)
