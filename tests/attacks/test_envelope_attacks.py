"""Attacks on envelopes, decided by the pure validator (no broker): each asserts the exact reason."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from consumers.bus.decide.validator import Accepted, Decision, Rejected
from infra.pki import Authority
from producers.keys import FileKeyProvider, make_signature
from schemas.algorithms import P256_ORDER, Algorithm, low_s
from schemas.canonical import envelope_signing_input
from schemas.codec import encode
from schemas.document import SecurityLevel
from schemas.envelope import Envelope
from schemas.reasons import Reason
from schemas.signature import Signature, SignerRole
from tests.attacks.lab import Bus, Chain, Lab, provider, sign


def rejected(d: Decision, reason: Reason) -> Rejected:
    assert isinstance(d, Rejected), f"accepted: {d}"
    assert d.reason is reason, (d.reason, d.detail)
    return d


def with_signature(env: Envelope, role: SignerRole, sig: Signature) -> bytes:
    """``env`` with its ``role`` signature replaced by ``sig``."""
    sigs = [sig if s.role is role else s for s in env.signatures]
    return encode(env.model_copy(update={"signatures": sigs}))


def resigned(
    lab: Lab, env: Envelope, role: SignerRole, signer: FileKeyProvider, label: str | None = None
) -> bytes:
    """The ``role`` signature made again by ``signer`` and, optionally, relabelled ``label``."""
    unsigned = env.model_copy(update={"signatures": []})
    sig = make_signature(signer, role, envelope_signing_input(unsigned))
    if label is not None:
        sig = sig.model_copy(update={"algorithm": label})
    return with_signature(env, role, sig)


# --- replay and freshness ---------------------------------------------------------------------


def test_replay_of_an_accepted_envelope(lab: Lab, bus: Bus) -> None:
    chain = Chain(lab, "H01")
    _, first = chain.signed()
    assert isinstance(bus.check(first), Accepted)
    assert isinstance(bus.check(chain.signed()[1]), Accepted)
    # the old bytes again, at a later offset: an identical resend — its sender's 01 again and
    # nothing else (no copy to any inbox, the chain not moved); not a refusal (issue: resends)
    d = bus.check(first)
    assert isinstance(d, Accepted) and d.resend and d.duplicate


def test_replay_after_the_routed_table_forgot_it(lab: Lab, bus: Bus) -> None:
    chain = Chain(lab, "H01")
    _, first = chain.signed()
    assert isinstance(bus.check(first), Accepted)
    assert isinstance(bus.check(chain.signed()[1]), Accepted)
    # the sender's own state refuses it: id seen, sequence already passed
    rejected(bus.check(first, forget_routed=True), Reason.REPLAY)


def test_replay_of_a_stale_envelope(lab: Lab, bus: Bus) -> None:
    _, raw = Chain(lab, "H01").signed()
    rejected(bus.check(raw, now=datetime.now(UTC) + timedelta(days=2)), Reason.STALE)


def test_envelope_dated_in_the_future(lab: Lab, bus: Bus) -> None:
    _, raw = Chain(lab, "H01").signed(created_at=datetime.now(UTC) + timedelta(hours=1))
    rejected(bus.check(raw), Reason.STALE)


# --- signature block --------------------------------------------------------------------------


def test_signatures_stripped(lab: Lab, bus: Bus) -> None:
    env, _ = Chain(lab, "H01").signed()
    rejected(bus.check(encode(env.model_copy(update={"signatures": []}))), Reason.SIGNATURE_MISSING)


def test_official_signature_stripped(lab: Lab, bus: Bus) -> None:
    env, _ = Chain(lab, "H01").signed()
    seal_only = [s for s in env.signatures if s.role is SignerRole.ORGANIZATION]
    d = rejected(
        bus.check(encode(env.model_copy(update={"signatures": seal_only}))), Reason.SIGNATURE_MISSING
    )
    assert "official" in d.detail


def test_official_replaced_by_a_second_seal(lab: Lab, bus: Bus) -> None:
    env, _ = Chain(lab, "H01").signed()
    seal = next(s for s in env.signatures if s.role is SignerRole.ORGANIZATION)
    d = rejected(
        bus.check(encode(env.model_copy(update={"signatures": [seal, seal]}))), Reason.SIGNATURE_INVALID
    )
    assert "2 organization signatures" in d.detail  # the duplicate is refused before the absence


def test_unknown_algorithm_named(lab: Lab, bus: Bus) -> None:
    env, _ = Chain(lab, "H01").signed()
    for name in ("none", "RSA-SHA1", "ecdsa-p256-sha256", "HS256"):
        seal = next(s for s in env.signatures if s.role is SignerRole.ORGANIZATION)
        raw = with_signature(env, SignerRole.ORGANIZATION, seal.model_copy(update={"algorithm": name}))
        rejected(bus.check(raw), Reason.ALG_NOT_ALLOWED)


def test_pkcs1v15_signature_presented_as_pss(lab: Lab, bus: Bus) -> None:
    env, _ = Chain(lab, "H01").signed(official=lab.extra["rsa"])
    signer = provider(lab.extra["rsa"], Algorithm.RSA_PKCS1V15_SHA256)
    assert isinstance(lab.bus().check(resigned(lab, env, SignerRole.OFFICIAL, signer)), Accepted)
    raw = resigned(lab, env, SignerRole.OFFICIAL, signer, Algorithm.RSA_PSS_SHA256.value)
    rejected(bus.check(raw), Reason.SIGNATURE_INVALID)


def test_pss_signature_presented_as_pkcs1v15(lab: Lab, bus: Bus) -> None:
    env, _ = Chain(lab, "H01").signed(official=lab.extra["rsa"])  # RSA signs PSS by default
    assert env.signatures[0].algorithm == Algorithm.RSA_PSS_SHA256.value
    raw = with_signature(
        env,
        SignerRole.OFFICIAL,
        env.signatures[0].model_copy(update={"algorithm": Algorithm.RSA_PKCS1V15_SHA256.value}),
    )
    rejected(bus.check(raw), Reason.SIGNATURE_INVALID)


def test_ecdsa_signature_labelled_ed25519(lab: Lab, bus: Bus) -> None:
    env, _ = Chain(lab, "H01").signed()
    official = env.signatures[0]
    assert official.algorithm == Algorithm.ECDSA_P256_SHA256.value
    raw = with_signature(
        env, SignerRole.OFFICIAL, official.model_copy(update={"algorithm": Algorithm.ED25519.value})
    )
    rejected(bus.check(raw), Reason.ALG_NOT_ALLOWED)


def test_ed25519_signature_labelled_ecdsa(lab: Lab, bus: Bus) -> None:
    env, _ = Chain(lab, "H01").signed(official=lab.extra["ed25519"])
    official = env.signatures[0]
    assert official.algorithm == Algorithm.ED25519.value
    label = Algorithm.ECDSA_P256_SHA256.value
    rejected(
        bus.check(with_signature(env, SignerRole.OFFICIAL, official.model_copy(update={"algorithm": label}))),
        Reason.ALG_NOT_ALLOWED,
    )


def test_rsa_signature_labelled_ecdsa(lab: Lab, bus: Bus) -> None:
    env, _ = Chain(lab, "H01").signed(official=lab.extra["rsa"])
    label = Algorithm.ECDSA_P256_SHA256.value
    raw = with_signature(env, SignerRole.OFFICIAL, env.signatures[0].model_copy(update={"algorithm": label}))
    rejected(bus.check(raw), Reason.ALG_NOT_ALLOWED)


def test_high_s_twin_of_a_valid_ecdsa_signature(lab: Lab, bus: Bus) -> None:
    env, raw = Chain(lab, "H01").signed()
    seal = next(s for s in env.signatures if s.role is SignerRole.ORGANIZATION)
    r, s = decode_dss_signature(seal.value)
    twin = encode_dss_signature(r, P256_ORDER - s)  # verifies mathematically, but malleated
    d = rejected(
        bus.check(with_signature(env, SignerRole.ORGANIZATION, seal.model_copy(update={"value": twin}))),
        Reason.SIGNATURE_INVALID,
    )
    assert "high-S" in d.detail
    assert isinstance(bus.check(raw), Accepted)  # the original low-S form is fine


# --- keys and certificates --------------------------------------------------------------------


def test_key_substitution_beside_the_victims_certificate(lab: Lab, bus: Bus) -> None:
    env, _ = Chain(lab, "H01").signed()
    attacker = lab.seals["H02"]  # a real key, but not the one H01's certificate holds
    assert attacker.key is not None
    seal = next(s for s in env.signatures if s.role is SignerRole.ORGANIZATION)
    assert isinstance(attacker.key, ec.EllipticCurvePrivateKey)
    forged = attacker.key.sign(envelope_signing_input(env), ec.ECDSA(hashes.SHA256()))
    raw = with_signature(env, SignerRole.ORGANIZATION, seal.model_copy(update={"value": low_s(forged)}))
    rejected(bus.check(raw), Reason.SIGNATURE_INVALID)


def test_another_orgs_seal_signs_as_the_victim(lab: Lab, bus: Bus) -> None:
    env = Chain(lab, "H01").unsigned()
    _, raw = sign(lab, env, "H01", seal=lab.seals["H02"])  # H02's valid seal on H01's envelope
    d = rejected(bus.check(raw), Reason.ORG_MISMATCH)
    assert "organization" in d.detail


def test_envelope_claiming_another_sender_than_the_keys_org(lab: Lab, bus: Bus) -> None:
    env = Chain(lab, "H01").unsigned(("H03",))
    # H02 signs, with both of its own valid keys, an envelope that says it comes from H01
    _, raw = sign(lab, env, "H02")
    d = rejected(bus.check(raw), Reason.ORG_MISMATCH)
    assert d.sender == "H01"


def test_certificate_from_a_foreign_ca(lab: Lab, bus: Bus, tmp_path: Path) -> None:
    rogue = Authority.init(tmp_path / "rogue", b"rogue")  # same names as the ministry's CAs
    seal = rogue.issue_org("H01", "Tổ chức H01 giả")
    env = Chain(lab, "H01").unsigned()
    _, raw = sign(lab, env, "H01", seal=seal)
    rejected(bus.check(raw), Reason.UNTRUSTED_CHAIN)


def test_seal_certificate_used_as_an_official(lab: Lab, bus: Bus) -> None:
    env = Chain(lab, "H01").unsigned()
    _, raw = sign(lab, env, "H01", official=lab.seals["H01"])
    rejected(bus.check(raw), Reason.CERT_USAGE)


def test_expired_certificate(lab: Lab, bus: Bus) -> None:
    _, raw = Chain(lab, "H01").signed(official=lab.extra["expired"])
    rejected(bus.check(raw), Reason.CERT_EXPIRED)


def test_expired_certificate_with_a_backdated_signing_time(lab: Lab, bus: Bus) -> None:
    """signing_time is the signer's unsigned claim: set inside the old validity window, it must
    not let an expired key sign a fresh envelope."""
    expired = lab.extra["expired"]
    env = Chain(lab, "H01").unsigned()
    signed, _ = sign(lab, env, "H01", official=expired)
    then = expired.cert.not_valid_before_utc + timedelta(days=1)
    official = signed.signatures[0].model_copy(update={"signing_time": then})  # not signed over
    d = bus.check(with_signature(signed, SignerRole.OFFICIAL, official))
    assert isinstance(d, Rejected), "an expired key signed a fresh envelope by backdating signing_time"
    assert d.reason is Reason.STALE, (d.reason, d.detail)


def test_not_yet_valid_certificate(lab: Lab, bus: Bus) -> None:
    _, raw = Chain(lab, "H01").signed(official=lab.extra["future"])
    rejected(bus.check(raw), Reason.CERT_NOT_YET_VALID)


def test_revoked_certificate(lab: Lab, bus: Bus) -> None:
    _, raw = Chain(lab, "H01").signed(official=lab.extra["revoked"])
    rejected(bus.check(raw), Reason.CERT_REVOKED)


def test_revoked_certificate_with_a_backdated_signing_time(lab: Lab, bus: Bus) -> None:
    env = Chain(lab, "H01").unsigned()
    _, raw = sign(lab, env, "H01", official=lab.extra["revoked"], at=datetime.now(UTC) - timedelta(minutes=2))
    rejected(bus.check(raw), Reason.CERT_REVOKED)  # revocation is absolute, whatever signing_time says


# --- contract, directory and continuity -------------------------------------------------------


def test_secret_document(lab: Lab, bus: Bus) -> None:
    env = Chain(lab, "H01").unsigned()
    doc = env.document.model_copy(update={"security_level": SecurityLevel.SECRET})
    _, raw = sign(lab, env.model_copy(update={"document": doc}), "H01")  # properly signed
    rejected(bus.check(raw), Reason.SECRET_REFUSED)


def test_misaddressed_envelope(lab: Lab, bus: Bus) -> None:
    _, raw = Chain(lab, "H01").signed("H09")  # no such department in the directory
    assert rejected(bus.check(raw), Reason.UNKNOWN_RECIPIENT).notify


def test_unknown_group(lab: Lab, bus: Bus) -> None:
    env = Chain(lab, "H01").unsigned((), groups=("list:nobody",))
    rejected(bus.check(sign(lab, env, "H01")[1]), Reason.UNKNOWN_RECIPIENT)


def test_sender_outside_the_directory(lab: Lab, bus: Bus) -> None:
    env = Chain(lab, "H01").unsigned()
    doc_id = "X99" + env.document.document_id[3:]
    env = env.model_copy(
        update={
            "sender": env.sender.model_copy(update={"code": "X99"}),
            "document": env.document.model_copy(update={"document_id": doc_id}),
        }
    )
    _, raw = sign(lab, env, "H01", official=lab.extra["outsider-official"], seal=lab.extra["outsider"])
    d = rejected(bus.check(raw), Reason.UNKNOWN_SENDER)
    assert not d.notify  # no inbox to notify


def test_unknown_directory_snapshot(lab: Lab, bus: Bus) -> None:
    _, raw = Chain(lab, "H01").signed(directory_snapshot=bytes(range(32)))
    rejected(bus.check(raw), Reason.DIRECTORY_MISMATCH)


def test_sequence_gap(lab: Lab, bus: Bus) -> None:
    chain = Chain(lab, "H01")
    assert isinstance(bus.check(chain.signed()[1]), Accepted)
    chain.unsigned()  # number 2 built, never sent
    rejected(bus.check(chain.signed()[1]), Reason.SEQUENCE_GAP)


def test_wrong_previous_hash(lab: Lab, bus: Bus) -> None:
    chain = Chain(lab, "H01")
    assert isinstance(bus.check(chain.signed()[1]), Accepted)
    chain.last = bytes(32 * [7])
    d = rejected(bus.check(chain.signed()[1]), Reason.SEQUENCE_GAP)
    assert "previous hash" in d.detail


def test_first_envelope_not_numbered_one(lab: Lab, bus: Bus) -> None:
    chain = Chain(lab, "H01", sequence=41, last=bytes(32 * [1]))
    rejected(bus.check(chain.signed()[1]), Reason.SEQUENCE_GAP)


def test_reused_message_id_on_a_new_envelope(lab: Lab, bus: Bus) -> None:
    chain = Chain(lab, "H01")
    first, raw = chain.signed()
    assert isinstance(bus.check(raw), Accepted)
    _, again = chain.signed(message_id=first.message_id)
    rejected(bus.check(again), Reason.REPLAY)
    assert uuid.UUID(first.message_id)


def _with_leaf(env: Envelope, role: SignerRole, leaf: bytes) -> bytes:
    sig = next(s for s in env.signatures if s.role is role)
    return with_signature(env, role, sig.model_copy(update={"chain": [leaf, *sig.chain[1:]]}))


def test_certificate_with_an_invalid_version(lab: Lab, bus: Bus) -> None:
    env, _ = Chain(lab, "H01").signed()
    leaf = bytearray(env.signatures[1].chain[0])
    assert leaf[8:13] == b"\xa0\x03\x02\x01\x02"  # [0] EXPLICIT INTEGER 2 (v3)
    leaf[12] = 3  # cryptography raises InvalidVersion, which is not a ValueError
    rejected(bus.check(_with_leaf(env, SignerRole.ORGANIZATION, bytes(leaf))), Reason.UNTRUSTED_CHAIN)


def test_certificate_with_a_name_of_the_wrong_asn1_type(lab: Lab, bus: Bus) -> None:
    env, _ = Chain(lab, "H01").signed()
    leaf = env.signatures[1].chain[0]
    country = b"\x06\x03\x55\x04\x06\x13\x02VN"  # countryName, PrintableString
    assert country in leaf
    odd = leaf.replace(country, b"\x06\x03\x55\x04\x06\x03\x02VN", 1)  # ... as a BIT STRING: TypeError
    rejected(bus.check(_with_leaf(env, SignerRole.ORGANIZATION, odd)), Reason.UNTRUSTED_CHAIN)


@pytest.mark.parametrize("when", [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC)])
def test_extreme_signing_time_and_created_at(lab: Lab, bus: Bus, when: datetime) -> None:
    env, _ = Chain(lab, "H01").signed()
    sig = env.signatures[0].model_copy(update={"signing_time": when})
    rejected(bus.check(with_signature(env, SignerRole.OFFICIAL, sig)), Reason.STALE)
    rejected(bus.check(encode(env.model_copy(update={"created_at": when}))), Reason.STALE)
