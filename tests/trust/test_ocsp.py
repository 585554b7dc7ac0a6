"""OCSP responses stapled by the signer (envelope.v4's ``Signature.ocsp``), checked offline.

The VGCA-shaped issuing CA answers OCSP for its seals; the store holds the root's CRL only, so the
seal's revocation status can come from nothing but the staple."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp

from consumers.trust import TrustError, TrustPolicy, TrustStore
from producers.keys import FileKeyProvider, make_signature, staple
from schemas.codec import decode, encode, fingerprint
from schemas.envelope import Envelope
from schemas.errors import ContractError
from schemas.limits import DEFAULT_LIMITS, check_signature_limits
from schemas.reasons import Reason
from schemas.signature import Signature, SignerRole
from tests.schemas.samples import sample_envelope
from tests.trust.conftest import DATA, now
from tests.trust.test_sector import CA_NAME, ROOT_NAME, Vgca, _ca, _crl, seal

CODE = "H01.T001"


@pytest.fixture(scope="module")
def vgca() -> Vgca:
    root_key = rsa.generate_private_key(65537, 2048)
    ca_key = rsa.generate_private_key(65537, 2048)
    root = _ca(ROOT_NAME, root_key, ROOT_NAME, root_key, None)
    ca = _ca(CA_NAME, ca_key, ROOT_NAME, root_key, 0, pointers=True)
    return Vgca(root, root_key, ca, ca_key, [_crl(ROOT_NAME, root_key)])


def _response(
    vgca: Vgca,
    provider: FileKeyProvider,
    status: ocsp.OCSPCertStatus = ocsp.OCSPCertStatus.GOOD,
    *,
    impostor: bool = False,
    this_update: timedelta = timedelta(minutes=-10),
    next_update: timedelta = timedelta(days=1),
) -> bytes:
    leaf = x509.load_der_x509_certificate(provider.chain[0])
    revoked = status is ocsp.OCSPCertStatus.REVOKED
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=leaf,
        issuer=vgca.ca,
        algorithm=hashes.SHA256(),
        cert_status=status,
        this_update=now() + this_update,
        next_update=now() + next_update,
        revocation_time=now() - timedelta(hours=1) if revoked else None,
        revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
    )
    if not impostor:
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, vgca.ca)
        return builder.sign(vgca.ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    # a key of its own under the CA's name, its certificate attached: not the CA, not delegated by it
    key = ec.generate_private_key(ec.SECP256R1())
    fake = _ca(CA_NAME, key, CA_NAME, key, 0)
    builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, fake).certificates([fake])
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _store(vgca: Vgca) -> TrustStore:
    return TrustStore([vgca.root], [_crl(ROOT_NAME, vgca.root_key)])  # no CRL of the issuing CA


def _signature(provider: FileKeyProvider, *responses: bytes) -> Signature:
    sig = make_signature(provider, SignerRole.ORGANIZATION, DATA)
    return staple([sig], {SignerRole.ORGANIZATION: list(responses)})[0]


def _check(vgca: Vgca, sig: Signature) -> None:
    TrustPolicy(_store(vgca)).verify_seal(DATA, [sig], CODE, now())


def _refused(vgca: Vgca, sig: Signature) -> Reason:
    with pytest.raises(TrustError) as info:
        _check(vgca, sig)
    return info.value.reason


def test_a_good_staple_stands_in_for_the_crl(vgca: Vgca) -> None:
    provider = seal(vgca.ca, vgca.ca_key)
    assert _refused(vgca, _signature(provider)) is Reason.CRL_UNAVAILABLE
    _check(vgca, _signature(provider, _response(vgca, provider)))


def test_a_revoked_staple_refuses(vgca: Vgca) -> None:
    provider = seal(vgca.ca, vgca.ca_key)
    sig = _signature(provider, _response(vgca, provider, ocsp.OCSPCertStatus.REVOKED))
    assert _refused(vgca, sig) is Reason.CERT_REVOKED


def test_staples_that_prove_nothing_are_not_revocation_data(vgca: Vgca) -> None:
    provider = seal(vgca.ca, vgca.ca_key)
    other = seal(vgca.ca, vgca.ca_key)
    useless = {
        "another certificate's answer": _response(vgca, other),
        "signed by a key that is not the CA's": _response(vgca, provider, impostor=True),
        "expired": _response(vgca, provider, this_update=-timedelta(days=9), next_update=-timedelta(days=2)),
        "not DER": b"\x30\x03garbage",
    }
    for what, der in useless.items():
        reason = _refused(vgca, _signature(provider, der))
        assert reason in {Reason.CRL_UNAVAILABLE, Reason.VALIDATOR_FAILURE}, (what, reason)


def test_staples_travel_in_envelope_v4_and_older_envelopes_read_without(vgca: Vgca) -> None:
    provider = seal(vgca.ca, vgca.ca_key)
    der = _response(vgca, provider)
    official = make_signature(provider, SignerRole.OFFICIAL, DATA)
    signed_envelope = sample_envelope(
        signatures=[official, make_signature(provider, SignerRole.ORGANIZATION, DATA)]
    )
    stapled = signed_envelope.model_copy(
        update={"signatures": staple(signed_envelope.signatures, {SignerRole.ORGANIZATION: [der]})}
    )
    raw = encode(stapled)
    assert raw[2:10] == fingerprint("envelope.v6")
    back = decode(raw, Envelope)
    assert {s.role: s.ocsp for s in back.signatures}[SignerRole.ORGANIZATION] == [der]
    assert all(s.ocsp == [] for s in back.signatures if s.role is not SignerRole.ORGANIZATION)
    assert all(s.ocsp == [] for s in decode(encode(signed_envelope), Envelope).signatures)


def test_staple_limits() -> None:
    sig = Signature(
        role=SignerRole.ORGANIZATION, algorithm="Ed25519", chain=[b"x"], signing_time=now(), value=b"v",
        ocsp=[b"r"] * (DEFAULT_LIMITS.max_ocsp_responses + 1),
    )  # fmt: skip
    with pytest.raises(ContractError) as info:
        check_signature_limits([sig])
    assert info.value.reason is Reason.TOO_LARGE
    big = sig.model_copy(update={"ocsp": [b"r" * (DEFAULT_LIMITS.max_ocsp_bytes + 1)]})
    with pytest.raises(ContractError):
        check_signature_limits([big])
