"""The committed golden vectors behave as tests/vectors/data/manifest.json says.

Signatures are checked with plain cryptography (leaf certificate key, no chain validation: that
is the trust core's job) and, for each algorithm, with the openssl CLI from the spec alone."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from schemas.canonical import envelope_signing_input, receipt_signing_input
from schemas.codec import decode
from schemas.envelope import Envelope, parse_envelope
from schemas.errors import ContractError
from schemas.receipt import parse_receipt
from schemas.signature import Signature
from tests.vectors.generate import verify

DATA = Path(__file__).parents[1] / "vectors" / "data"
MANIFEST: list[dict[str, Any]] = json.loads((DATA / "manifest.json").read_text(encoding="utf-8"))["vectors"]
SIGNED = [v for v in MANIFEST if "input" in v]


def _outcome(vector: dict[str, Any]) -> tuple[str, bytes | None, list[Signature]]:
    raw = (DATA / vector["file"]).read_bytes()
    try:
        if vector["kind"] == "receipt":
            receipt = parse_receipt(raw)
            data, sigs = receipt_signing_input(receipt), receipt.signatures
        else:
            env = parse_envelope(raw)
            data, sigs = envelope_signing_input(env), env.signatures
    except ContractError as err:
        return err.reason.value, None, []
    for sig in sigs:
        leaf = x509.load_der_x509_certificate(sig.chain[0])
        try:
            verify(sig.algorithm, leaf.public_key(), sig.value, data)
        except Exception:
            return "SIGNATURE_INVALID", data, sigs
    return "VALID", data, sigs


@pytest.mark.parametrize("vector", MANIFEST, ids=[v["name"] for v in MANIFEST])
def test_vector_outcome_matches_manifest(vector: dict[str, Any]) -> None:
    got, _, _ = _outcome(vector)
    assert got == vector["expect"], vector["note"]


def test_manifest_covers_every_algorithm_and_failure_kind() -> None:
    valid_algs = {v["algorithm"] for v in MANIFEST if v["expect"] == "VALID" and v["kind"] == "envelope"}
    assert valid_algs == {"RSA-PKCS1v15-SHA256", "RSA-PSS-SHA256", "ECDSA-P256-SHA256", "Ed25519"}
    assert {"SIGNATURE_INVALID", "DIGEST_MISMATCH", "MALFORMED"} <= {v["expect"] for v in MANIFEST}


@pytest.mark.parametrize("vector", SIGNED, ids=[v["name"] for v in SIGNED])
def test_signing_input_and_detached_signatures_are_golden(vector: dict[str, Any]) -> None:
    raw = (DATA / vector["file"]).read_bytes()
    if vector["expect"] == "DIGEST_MISMATCH":  # parse refuses it; the signing input is still defined
        env = decode(raw, Envelope)
        data, sigs = envelope_signing_input(env), env.signatures
    else:
        _, maybe, sigs = _outcome(vector)
        assert maybe is not None
        data = maybe
    assert data == (DATA / vector["input"]).read_bytes()  # the canonical bytes did not drift
    for listed, sig in zip(vector["signatures"], sigs, strict=True):
        assert sig.role.value == listed["role"]
        assert sig.value == (DATA / listed["signature"]).read_bytes()
        leaf = x509.load_der_x509_certificate(sig.chain[0])
        pem = leaf.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert pem == (DATA / listed["public_key"]).read_bytes()
        org_id = leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
        assert [a.value for a in org_id] == ["G03"]


OPENSSL = shutil.which("openssl")
SIGOPTS = {
    "RSA-PKCS1v15-SHA256": ["dgst", "-sha256"],
    "RSA-PSS-SHA256": ["dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"],
    "ECDSA-P256-SHA256": ["dgst", "-sha256"],
}


def _openssl_verify(algorithm: str, pub: Path, sig: Path, data: Path) -> subprocess.CompletedProcess[bytes]:
    assert OPENSSL is not None, "openssl CLI is part of the development machine"
    if algorithm == "Ed25519":
        args = [
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            str(pub),
            "-rawin",
            "-in",
            str(data),
            "-sigfile",
            str(sig),
        ]
    else:
        args = [*SIGOPTS[algorithm], "-verify", str(pub), "-signature", str(sig), str(data)]
    return subprocess.run([OPENSSL, *args], capture_output=True, check=False)


OPENSSL_CASES = [v for v in SIGNED if v["expect"] == "VALID"]


@pytest.mark.parametrize("vector", OPENSSL_CASES, ids=[v["name"] for v in OPENSSL_CASES])
def test_openssl_cli_verifies_from_the_spec_alone(vector: dict[str, Any], tmp_path: Path) -> None:
    data = DATA / vector["input"]
    tampered = tmp_path / "tampered.bin"
    tampered.write_bytes(data.read_bytes().replace(b"docbus/", b"docbuS/", 1))
    for listed in vector["signatures"]:
        pub, sig = DATA / listed["public_key"], DATA / listed["signature"]
        ok = _openssl_verify(vector["algorithm"], pub, sig, data)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert b"Verified OK" in ok.stdout or b"Signature Verified Successfully" in ok.stdout
        bad = _openssl_verify(vector["algorithm"], pub, sig, tampered)
        assert bad.returncode != 0
