"""Evidence bundles verify offline, and fail when any part of them is altered."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.audit.core.chain import AuditChain
from consumers.audit.core.errors import AuditError
from consumers.audit.core.evidence import build_evidence, verify_evidence
from consumers.audit.core.merkle import MerkleTree
from schemas.audit import AuditEvent, Evidence, ProvenRecord
from schemas.codec import decode, encode
from schemas.reasons import Reason
from tests.audit.conftest import T0, AuditKey, append_event, sign_at


def _cert(
    subject: str, key: ed25519.Ed25519PrivateKey, issuer: str, issuer_key: ed25519.Ed25519PrivateKey
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0 - timedelta(days=1))
        .not_valid_after(T0 + timedelta(days=365))
        .sign(issuer_key, None)
    )


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@dataclass
class Case:
    bundle: bytes
    ca: x509.Certificate
    envelope: bytes
    receipt: bytes


def check_envelope_with(ca: x509.Certificate):  # type: ignore[no-untyped-def]
    """Stands in for the trust module: chain to the anchor, CRL, and the envelope signature.
    (Test envelope format: body || 64-byte Ed25519 signature of the body by chains[0][0].)"""

    def check(evidence: Evidence) -> None:
        try:
            leaf = x509.load_der_x509_certificate(evidence.chains[0][0])
            issuer = x509.load_der_x509_certificate(evidence.chains[0][1])
            crl = x509.load_der_x509_crl(evidence.crls[0])
            if issuer != ca:
                raise AuditError(Reason.UNTRUSTED_CHAIN, "not our anchor")
            leaf.verify_directly_issued_by(issuer)
            if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
                raise AuditError(Reason.CRL_UNAVAILABLE, "bad CRL")
            if crl.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None:
                raise AuditError(Reason.CERT_REVOKED, "revoked")
            key = leaf.public_key()
            assert isinstance(key, ed25519.Ed25519PublicKey)
            key.verify(evidence.envelope[-64:], evidence.envelope[:-64])
        except (ValueError, InvalidSignature, UnsupportedAlgorithm, x509.InvalidVersion) as exc:
            raise AuditError(Reason.SIGNATURE_INVALID, str(exc)) from exc

    return check


@pytest.fixture(scope="module")
def case(audit_key: AuditKey) -> Case:
    ca_key, org_key = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    ca = _cert("MOET test CA", ca_key, "MOET test CA", ca_key)
    leaf = _cert("G03.15 seal", org_key, "MOET test CA", ca_key)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.subject)
        .last_update(T0)
        .next_update(T0 + timedelta(days=7))
        .sign(ca_key, None)
    )
    crl_der = crl.public_bytes(serialization.Encoding.DER)
    relied_on = [hashlib.sha256(der).digest() for der in (_der(leaf), _der(ca), crl_der)]
    body = b"cong van 7816/VPCP-TTDT"
    envelope = body + org_key.sign(body)
    receipt = b"receipt 03 from H41"
    digest = hashlib.sha256(envelope).digest()

    chain, tree, hashes, ours = AuditChain(), MerkleTree(), [], []
    for i in range(30):  # other traffic around our envelope
        if i in (4, 9, 17, 22):
            event = {
                4: AuditEvent.SUBMITTED,
                9: AuditEvent.ACCEPTED,
                17: AuditEvent.ROUTED,
                22: AuditEvent.RECEIPT,
            }[i]
            appended = chain.append(
                event,
                at=T0 + timedelta(seconds=i),
                message_id="m-ours",
                sender="G03.15",
                recipient="H41" if i in (17, 22) else None,
                status="03" if i == 22 else None,
                stored_hash=digest,
                receipt_hash=hashlib.sha256(receipt).digest() if i == 22 else None,
                trust_hashes=relied_on if i == 9 else (),
            )
            stored, h = appended.stored, appended.hash
            ours.append(stored)
        else:
            stored, h = append_event(chain, i)
        hashes.append(h)
    tree.extend(hashes)
    checkpoint = sign_at(tree, hashes, 30, audit_key)
    bundle = build_evidence(
        envelope=envelope,
        records=ours,
        tree=tree,
        checkpoint=checkpoint,
        chains=[[_der(leaf), _der(ca)]],
        crls=[crl_der],
        receipts=[receipt],
        created_at=T0 + timedelta(days=1),
    )
    return Case(bundle, ca, envelope, receipt)


def test_a_bundle_verifies_offline(case: Case, audit_key: AuditKey) -> None:
    report = verify_evidence(case.bundle, audit_key.keys, check_envelope=check_envelope_with(case.ca))
    assert report.envelope_checked and report.message_id == "m-ours"
    assert [r.event for r in report.records] == [
        AuditEvent.SUBMITTED,
        AuditEvent.ACCEPTED,
        AuditEvent.ROUTED,
        AuditEvent.RECEIPT,
    ]
    assert [r.index for r in report.records] == [4, 9, 17, 22]
    assert report.stored_hash == hashlib.sha256(case.envelope).digest()
    unchecked = verify_evidence(case.bundle, audit_key.keys)
    assert not unchecked.envelope_checked


def _flip(b: bytes, at: int) -> bytes:
    at %= len(b)
    return b[:at] + bytes([b[at] ^ 0x01]) + b[at + 1 :]


def _altered(bundle: bytes, part: str, at: int) -> bytes:
    ev = decode(bundle, Evidence)
    if part == "envelope":
        ev = ev.model_copy(update={"envelope": _flip(ev.envelope, at)})
    elif part == "chain":
        ev = ev.model_copy(update={"chains": [[_flip(ev.chains[0][0], at), ev.chains[0][1]]]})
    elif part == "anchor":
        ev = ev.model_copy(update={"chains": [[ev.chains[0][0], _flip(ev.chains[0][1], at)]]})
    elif part == "crl":
        ev = ev.model_copy(update={"crls": [_flip(ev.crls[0], at)]})
    elif part == "receipt":
        ev = ev.model_copy(update={"receipts": [_flip(ev.receipts[0], at)]})
    elif part == "checkpoint":
        ev = ev.model_copy(update={"checkpoint": _flip(ev.checkpoint, at)})
    elif part == "record":
        i = at % len(ev.records)
        bad = ProvenRecord(record=_flip(ev.records[i].record, at // 7), proof=ev.records[i].proof)
        ev = ev.model_copy(update={"records": [*ev.records[:i], bad, *ev.records[i + 1 :]]})
    elif part == "proof":
        i = at % len(ev.records)
        proof = list(ev.records[i].proof)
        j = at % len(proof)
        proof[j] = _flip(proof[j], at)
        bad = ProvenRecord(record=ev.records[i].record, proof=proof)
        ev = ev.model_copy(update={"records": [*ev.records[:i], bad, *ev.records[i + 1 :]]})
    return encode(ev)


PARTS = ["envelope", "chain", "anchor", "crl", "receipt", "checkpoint", "record", "proof"]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(PARTS), st.integers(0, 100_000))
def test_any_altered_part_is_refused(case: Case, audit_key: AuditKey, part: str, at: int) -> None:
    with pytest.raises(AuditError):
        verify_evidence(
            _altered(case.bundle, part, at), audit_key.keys, check_envelope=check_envelope_with(case.ca)
        )


@pytest.mark.parametrize(
    ("part", "reason"),
    [
        ("envelope", Reason.DIGEST_MISMATCH),
        ("receipt", Reason.DIGEST_MISMATCH),
        ("proof", Reason.DIGEST_MISMATCH),
    ],
)
def test_audit_side_alterations_need_no_callback(
    case: Case, audit_key: AuditKey, part: str, reason: Reason
) -> None:
    with pytest.raises(AuditError) as err:
        verify_evidence(_altered(case.bundle, part, 5), audit_key.keys)
    assert err.value.reason is reason


@pytest.mark.parametrize("part", ["chain", "anchor", "crl"])
def test_certificates_and_crls_are_bound_by_the_decision_record(
    case: Case, audit_key: AuditKey, part: str
) -> None:
    # even a change X.509 parsers forgive (the BIT STRING unused-bits byte) is refused
    with pytest.raises(AuditError) as err:
        verify_evidence(_altered(case.bundle, part, 10_000), audit_key.keys)
    assert err.value.reason is Reason.DIGEST_MISMATCH
    ev = decode(case.bundle, Evidence)
    extra = encode(ev.model_copy(update={"crls": [*ev.crls, b"another CRL"]}))
    with pytest.raises(AuditError, match="CRL"):
        verify_evidence(extra, audit_key.keys)


def test_a_receipt_without_its_audit_record_is_refused(case: Case, audit_key: AuditKey) -> None:
    ev = decode(case.bundle, Evidence)
    fewer = encode(ev.model_copy(update={"records": ev.records[:3]}))  # drop the RECEIPT record
    with pytest.raises(AuditError, match="receipt 0"):
        verify_evidence(fewer, audit_key.keys)


def test_a_record_about_another_message_is_refused(case: Case, audit_key: AuditKey) -> None:
    ev = decode(case.bundle, Evidence)
    chain = AuditChain()
    stranger = ProvenRecord(record=append_event(chain, 0)[0], proof=[b"\x00" * 32] * 5)
    with pytest.raises(AuditError):
        verify_evidence(encode(ev.model_copy(update={"records": [*ev.records, stranger]})), audit_key.keys)


def test_undecodable_bundle_and_unknown_audit_key(case: Case, audit_key: AuditKey) -> None:
    with pytest.raises(AuditError) as err:
        verify_evidence(b"\xc3\x01" + b"\x00" * 20, audit_key.keys)
    assert err.value.reason is Reason.MALFORMED
    with pytest.raises(AuditError) as err:
        verify_evidence(case.bundle, {})
    assert err.value.reason is Reason.UNTRUSTED_CHAIN
