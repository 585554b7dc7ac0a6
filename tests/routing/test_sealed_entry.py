"""Directory entries and snapshot records sealed by the ministry's directory authority verify
with the trust core after a codec round trip, and stop verifying when anything changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from consumers.trust import TrustError, TrustPolicy, TrustStore
from infra.pki import Authority
from producers.keys import FileKeyProvider, make_signature
from schemas.codec import decode, encode
from schemas.directory import (
    DirectoryEntry,
    DirectorySnapshotRecord,
    OrgKind,
    directory_entry_signing_input,
    directory_snapshot_signing_input,
)
from schemas.directory_store import DirectorySnapshot
from schemas.reasons import Reason
from schemas.signature import Signature, SignerRole
from tests.routing.conftest import entry


@dataclass
class DirectoryAuthority:
    provider: FileKeyProvider
    policy: TrustPolicy

    def seal(self, data: bytes) -> Signature:
        return make_signature(self.provider, SignerRole.ORGANIZATION, data)

    def verify(self, data: bytes, signatures: list[Signature]) -> str:
        return self.policy.verify_seal(data, signatures, "G03", datetime.now(UTC)).org


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> DirectoryAuthority:
    now = datetime.now(UTC)
    ca = Authority.init(tmp_path_factory.mktemp("pki") / "pki", b"pass", now=now - timedelta(days=1))
    seal = ca.issue_org("G03", "Bộ Giáo dục và Đào tạo")
    ca.publish_crl()
    assert seal.key is not None
    policy = TrustPolicy(TrustStore([ca.root_cert], ca.crls()))
    return DirectoryAuthority(FileKeyProvider(seal.key, seal.chain, None), policy)


@pytest.fixture(scope="module")
def signed(authority: DirectoryAuthority) -> DirectoryEntry:
    unsigned = entry("H01", OrgKind.DEPARTMENT, name="Sở GD&ĐT Hà Nội", groups=["mien-bac"])
    sig = authority.seal(directory_entry_signing_input(unsigned))
    return unsigned.model_copy(update={"signatures": [sig]})


def test_sealed_entry_verifies_after_round_trip(
    authority: DirectoryAuthority, signed: DirectoryEntry
) -> None:
    back = decode(encode(signed), DirectoryEntry)
    assert authority.verify(directory_entry_signing_input(back), back.signatures) == "G03"


def test_changed_entry_does_not_verify(authority: DirectoryAuthority, signed: DirectoryEntry) -> None:
    forged = signed.model_copy(update={"groups": ["mien-bac", "mien-nam"]})
    with pytest.raises(TrustError) as info:
        authority.verify(directory_entry_signing_input(forged), forged.signatures)
    assert info.value.reason is Reason.SIGNATURE_INVALID


def test_sealed_snapshot_record_verifies(authority: DirectoryAuthority, signed: DirectoryEntry) -> None:
    record = DirectorySnapshot.build([signed]).record(datetime.now(UTC))
    sealed = record.model_copy(
        update={"signatures": [authority.seal(directory_snapshot_signing_input(record))]}
    )
    back = decode(encode(sealed), DirectorySnapshotRecord)
    assert authority.verify(directory_snapshot_signing_input(back), back.signatures) == "G03"
    other = DirectorySnapshot.build([entry("H02")]).record(back.published_at)
    with pytest.raises(TrustError):  # the seal names one snapshot
        authority.verify(directory_snapshot_signing_input(other), back.signatures)
