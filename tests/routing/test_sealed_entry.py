"""A directory entry sealed by the ministry's directory authority verifies with the trust core,
after a codec round trip, and stops verifying when any field changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consumers.trust import TrustError, TrustPolicy, TrustStore
from infra.pki import Authority
from producers.keys import FileKeyProvider, make_signature
from schemas.codec import decode, encode
from schemas.directory import DirectoryEntry, OrgKind, directory_entry_signing_input
from schemas.reasons import Reason
from schemas.signature import SignerRole
from tests.routing.conftest import entry


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> tuple[DirectoryEntry, TrustPolicy]:
    now = datetime.now(UTC)
    authority = Authority.init(tmp_path_factory.mktemp("pki") / "pki", b"pass", now=now - timedelta(days=1))
    seal = authority.issue_org("G03", "Bộ Giáo dục và Đào tạo")
    authority.publish_crl()
    assert seal.key is not None
    unsigned = entry("H01", OrgKind.DEPARTMENT, name="Sở GD&ĐT Hà Nội", groups=["mien-bac"])
    provider = FileKeyProvider(seal.key, seal.chain, None)
    sig = make_signature(provider, SignerRole.ORGANIZATION, directory_entry_signing_input(unsigned))
    policy = TrustPolicy(TrustStore([authority.root_cert], authority.crls()))
    return unsigned.model_copy(update={"signatures": [sig]}), policy


def test_sealed_entry_verifies_after_round_trip(sealed: tuple[DirectoryEntry, TrustPolicy]) -> None:
    signed, policy = sealed
    back = decode(encode(signed), DirectoryEntry)
    seal = policy.verify_seal(directory_entry_signing_input(back), back.signatures, "G03", datetime.now(UTC))
    assert seal.org == "G03"


def test_changed_entry_does_not_verify(sealed: tuple[DirectoryEntry, TrustPolicy]) -> None:
    signed, policy = sealed
    forged = signed.model_copy(update={"groups": ["mien-bac", "mien-nam"]})
    with pytest.raises(TrustError) as info:
        policy.verify_seal(directory_entry_signing_input(forged), forged.signatures, "G03", datetime.now(UTC))
    assert info.value.reason is Reason.SIGNATURE_INVALID
