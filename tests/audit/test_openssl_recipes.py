"""docs/AUDIT.md's by-hand recipes work with the openssl CLI alone (no docbus code in the check)."""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from schemas.audit import Checkpoint
from schemas.codec import decode
from tests.audit.conftest import AuditKey, build_log

OPENSSL = shutil.which("openssl") or "openssl"


def test_record_hash_by_hand(tmp_path: Path, audit_key: AuditKey) -> None:
    log = build_log(3, (), audit_key)
    (tmp_path / "record-1.bin").write_bytes(log.records[1])
    out = subprocess.run(
        f"{{ printf 'docbus/audit/v1\\0'; cat record-1.bin; }} | {OPENSSL} dgst -sha256 -r",
        shell=True,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert bytes.fromhex(out.split()[0]) == log.records[2][10:42]  # record 2's prev_hash


def test_checkpoint_signature_by_hand(tmp_path: Path, audit_key: AuditKey) -> None:
    log = build_log(5, (5,), audit_key)
    cp = decode(log.checkpoints[0], Checkpoint)
    sig = cp.signature
    millis = round(cp.issued_at.timestamp() * 1000)
    chain_digest = hashlib.sha256(b"".join(struct.pack(">I", len(c)) + c for c in sig.chain)).digest()
    alg = sig.algorithm.encode()
    data = (
        b"docbus/checkpoint/v1\n"
        + struct.pack(">Q", cp.tree_size)
        + cp.root_hash
        + cp.last_hash
        + struct.pack(">q", millis)
        + cp.key_id.encode()
        + chain_digest
        + bytes([len(alg)])
        + alg
    )
    (tmp_path / "input.bin").write_bytes(data)
    (tmp_path / "sig.bin").write_bytes(sig.value)
    pem = audit_key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "audit.pub.pem").write_bytes(pem)
    cmd = [OPENSSL, "pkeyutl", "-verify", "-pubin", "-inkey", "audit.pub.pem", "-rawin"]
    ok = subprocess.run([*cmd, "-in", "input.bin", "-sigfile", "sig.bin"], cwd=tmp_path, capture_output=True)
    assert ok.returncode == 0, ok.stderr
    (tmp_path / "input.bin").write_bytes(data[:-1] + b"X")
    bad = subprocess.run([*cmd, "-in", "input.bin", "-sigfile", "sig.bin"], cwd=tmp_path, capture_output=True)
    assert bad.returncode != 0
