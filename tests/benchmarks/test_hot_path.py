"""The caches the benchmarks led to stay correct: trust hashes follow a CRL reload."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from consumers.bus.decide.validator import trust_hashes
from consumers.trust import TrustStore
from consumers.trust.store import load_crl
from infra.pki import Authority
from producers.keys import FileKeyProvider, make_signature
from schemas.signature import SignerRole


def test_trust_hashes_name_the_crl_held_now(tmp_path: Path) -> None:
    ca = Authority.init(tmp_path / "pki", b"pass")
    seal = ca.issue_org("H01", "Sở H01")
    assert seal.key is not None
    sig = make_signature(FileKeyProvider(seal.key, seal.chain[:2]), SignerRole.ORGANIZATION, b"data")
    store = TrustStore([ca.root_cert], ca.crls())

    def crl_hashes() -> set[bytes]:
        return {hashlib.sha256(load_crl(c).public_bytes(Encoding.DER)).digest() for c in ca.crls()}

    before = trust_hashes(store, [sig])
    assert crl_hashes() <= set(before) and trust_hashes(store, [sig]) == before

    ca.revoke("H01")  # publishes a newer CRL
    for crl in ca.crls():
        store.add_crl(crl)
    after = trust_hashes(store, [sig])
    assert crl_hashes() <= set(after)
    assert after != before
    root = hashlib.sha256(ca.root_cert.public_bytes(Encoding.DER)).digest()
    assert root in after
    # another store (a reloaded trust folder) is never answered from the first one's cache
    assert trust_hashes(TrustStore([ca.root_cert]), [sig]) != after
