"""NIST PKITS (the RFC 5280 conformance suite) through the project's own chain validation.

Data: the pinned ``cryptography-vectors`` wheel, x509/PKITS_data. One case per end-entity
certificate, 88 ``Valid*`` and 115 ``Invalid*``, with PKITS's default settings (any policy, no
explicit policy, mapping allowed) at 2025-01-01. Every case is validated against one store that
holds the trust anchor, every CA and CRL-signing certificate of the suite and all 173 CRLs at once
(in file order and reversed), so a CRL of a sibling CA, a delta or a partitioned CRL can never
stand in for the one that covers a certificate. The signer sends only its own certificate: the
path is built from the store. The sector rules (key sizes, CA profile) are off: PKITS tests
RFC 5280, not the sector profile.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path

import cryptography_vectors
import pytest

from consumers.trust import TrustConfig, TrustError, TrustStore
from consumers.trust.chain import check_times, validate_chain
from consumers.trust.profile import TrustProfile
from schemas.reasons import Reason

DATA = Path(cryptography_vectors.__file__).parent / "x509" / "PKITS_data"
MOMENT = datetime(2025, 1, 1, tzinfo=UTC)
CONFIG = TrustConfig(profile=TrustProfile.rfc5280(), max_chain_length=10, min_rsa_bits=1024)
ANCHOR = "TrustAnchorRootCertificate.crt"

CASES = sorted(p.name.removesuffix("EE.crt") for p in (DATA / "certs").glob("*EE.crt"))
VALID = [c for c in CASES if c.startswith("Valid")]
INVALID = [c for c in CASES if c.startswith("Invalid")]

# valid paths still refused, each with why (docs/TRUST.md, "PKITS")
KNOWN_GAPS = {
    "ValidDSASignaturesTest4": "DSA-1024: no CRL of the DSA CA is usable to the validator (require mode)",
    "ValidDSAParameterInheritanceTest5": "a DSA key inheriting its parameters: no usable key",
}


def _store(reverse: bool) -> TrustStore:
    certs = sorted(p for p in (DATA / "certs").glob("*.crt") if not p.name.endswith("EE.crt"))
    crls = sorted((DATA / "crls").glob("*.crl"), reverse=reverse)
    store = TrustStore([(DATA / "certs" / ANCHOR).read_bytes()])
    for path in certs:
        if path.name != ANCHOR:
            # DSAParametersInheritedCACert: a DSA key without parameters is no usable key
            with contextlib.suppress(TrustError):
                store.add_intermediate(path.read_bytes())
    for path in crls:
        # a CRL whose signature no certificate of its issuer's name verifies is never held
        with contextlib.suppress(TrustError):
            store.add_crl(path.read_bytes())
    return store


@pytest.fixture(scope="module", params=["crls-in-order", "crls-reversed"])
def store(request: pytest.FixtureRequest) -> TrustStore:
    return _store(reverse=request.param == "crls-reversed")


def verdict(case: str, store: TrustStore) -> TrustError | None:
    """None if the case's end-entity certificate is accepted at the PKITS moment."""
    der = (DATA / "certs" / f"{case}EE.crt").read_bytes()
    try:
        chain = validate_chain([der], store, CONFIG, now=MOMENT)
        check_times(chain, MOMENT, MOMENT, CONFIG)
    except TrustError as exc:
        return exc
    return None


def test_the_suite_is_complete() -> None:
    assert (len(VALID), len(INVALID)) == (88, 115)


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[c])) if c in KNOWN_GAPS else c
     for c in VALID],
)  # fmt: skip
def test_valid_path_is_accepted(case: str, store: TrustStore) -> None:
    refused = verdict(case, store)
    assert refused is None, refused


@pytest.mark.parametrize("case", INVALID)
def test_invalid_path_is_refused(case: str, store: TrustStore) -> None:
    refused = verdict(case, store)
    assert refused is not None, f"{case} accepted"
    assert isinstance(refused.reason, Reason) and refused.detail
    if "Revoked" in case or "revoked" in case:
        assert refused.reason in {Reason.CERT_REVOKED, Reason.CRL_UNAVAILABLE}, refused
