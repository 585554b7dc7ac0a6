"""Attacks on the certificate chain and the signature encoding carried in the signature block."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from consumers.bus.decide.validator import Accepted
from schemas.algorithms import low_s
from schemas.canonical import envelope_signing_input
from schemas.reasons import Reason
from schemas.signature import SignerRole
from tests.attacks.lab import Bus, Chain, Lab, sign
from tests.attacks.test_envelope_attacks import rejected, with_signature


def test_leaf_without_its_issuing_ca(lab: Lab, bus: Bus) -> None:
    env, _ = Chain(lab, "H01").signed()
    seal = env.signatures[1]
    raw = with_signature(env, SignerRole.ORGANIZATION, seal.model_copy(update={"chain": seal.chain[:1]}))
    # the bus knows the issuing CA from its PKI folder (ca/issuing.pem): the path is built from it
    assert isinstance(bus.check(raw), Accepted)


def test_chain_in_reverse_order(lab: Lab, bus: Bus) -> None:
    env, _ = Chain(lab, "H01").signed()
    seal = env.signatures[1]
    raw = with_signature(env, SignerRole.ORGANIZATION, seal.model_copy(update={"chain": seal.chain[::-1]}))
    # the rest of a chain is an unordered set for path building, but the first certificate is the
    # signer's: now the issuing CA's, which cannot sign documents
    rejected(bus.check(raw), Reason.CERT_USAGE)


def test_chain_without_the_anchor_is_enough(lab: Lab, bus: Bus) -> None:
    env, _ = Chain(lab, "H01").signed()
    seal = env.signatures[1]
    raw = with_signature(env, SignerRole.ORGANIZATION, seal.model_copy(update={"chain": seal.chain[:2]}))
    assert isinstance(bus.check(raw), Accepted)  # the anchor comes from the trust store


def test_the_issuing_cas_own_key_signs_a_document(lab: Lab, bus: Bus) -> None:
    env, _ = Chain(lab, "H01").signed()
    ca = lab.authority
    assert isinstance(ca.issuing_key, ec.EllipticCurvePrivateKey)
    value = ca.issuing_key.sign(envelope_signing_input(env), ec.ECDSA(hashes.SHA256()))
    chain = [c.public_bytes(serialization.Encoding.DER) for c in (ca.issuing_cert, ca.root_cert)]
    seal = env.signatures[1].model_copy(update={"chain": chain, "value": low_s(value)})
    rejected(bus.check(with_signature(env, SignerRole.ORGANIZATION, seal)), Reason.CERT_USAGE)


def test_audit_certificate_used_as_a_seal(lab: Lab, bus: Bus) -> None:
    _, raw = sign(lab, Chain(lab, "H01").unsigned(), "H01", seal=lab.extra["audit"])
    rejected(bus.check(raw), Reason.CERT_USAGE)


def test_ecdsa_signature_as_raw_r_s_instead_of_der(lab: Lab, bus: Bus) -> None:
    env, _ = Chain(lab, "H01").signed()
    seal = env.signatures[1]
    r, s = decode_dss_signature(seal.value)
    raw_rs = r.to_bytes(32, "big") + s.to_bytes(32, "big")  # PKCS#11 form, not what docbus carries
    raw = with_signature(env, SignerRole.ORGANIZATION, seal.model_copy(update={"value": raw_rs}))
    rejected(bus.check(raw), Reason.SIGNATURE_INVALID)
