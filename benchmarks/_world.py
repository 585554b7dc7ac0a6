"""A benchmark sector: a real PKI, the 63 departments in a sealed directory, and one sender per
algorithm whose official and seal both sign with it. Envelopes are pre-signed in chains (each
sender's sequence and previous hash advance), so a consumer of them sees a valid history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from docbus.directory_load import seal_entries
from docbus.sector import build_sector
from infra.pki import Authority, KeyType
from producers.builder import DocumentDraft, build_envelope, sign_envelope
from producers.identity import NodeIdentity
from producers.keys import FileKeyProvider
from schemas.algorithms import Algorithm
from schemas.canonical import signing_hash
from schemas.directory import DirectoryEntry
from schemas.directory_store import DirectorySnapshot
from schemas.document import DocumentType
from schemas.envelope import ZERO_HASH
from schemas.payload import Payload

__all__ = ["ALGORITHMS", "PASSPHRASE", "BenchWorld", "Chain", "build_world"]

PASSPHRASE = "docbus-bench"
#: label -> (sender org, key type, algorithm); the ministry G03 (P-256) sends the directives. The
#: four senders' keys fall on four of docbus.ingress's six partitions (0, 2, 3, 5: murmur2, as the
#: nodes' producers), two in each half and two of each parity, so two workers of one group take
#: two senders each whichever way the partitions are split, and the junk sender H09 (partition 1)
#: shares none of them. (H01..H04 put three of the four on partition 0: two workers then drained
#: no faster than one.)
ALGORITHMS: dict[str, tuple[str, KeyType, Algorithm]] = {
    "RSA-2048-PKCS1v15": ("H01", KeyType.RSA2048, Algorithm.RSA_PKCS1V15_SHA256),
    "RSA-2048-PSS": ("H02", KeyType.RSA2048, Algorithm.RSA_PSS_SHA256),
    "ECDSA-P256": ("H13", KeyType.P256, Algorithm.ECDSA_P256_SHA256),
    "Ed25519": ("H10", KeyType.ED25519, Algorithm.ED25519),
}
PAYLOAD = b"%PDF-1.7 " + bytes(range(256)) * 8  # a 2 KB stand-in document


@dataclass
class Chain:
    """One sender's envelopes in order: next sequence and previous hash advance per envelope."""

    identity: NodeIdentity
    snapshot: bytes
    sequence: int = 0
    last: bytes = ZERO_HASH

    def envelopes(
        self, n: int, recipients: tuple[str, ...] = (), groups: tuple[str, ...] = ()
    ) -> list[tuple[str, bytes]]:
        """``n`` signed envelopes: (message id, wire bytes)."""
        out = []
        for _ in range(n):
            self.sequence += 1
            draft = DocumentDraft(
                document_type=DocumentType.CONG_VAN,
                code_number=str(self.sequence),
                code_notation="BENCH",
                subject=f"Đo hiệu năng {self.sequence}",
                payload=Payload.of("vb.pdf", "application/pdf", PAYLOAD),
                recipients=recipients,
                groups=groups,
            )
            env = build_envelope(
                self.identity,
                draft,
                sequence=self.sequence,
                previous_hash=self.last,
                directory_snapshot=self.snapshot,
                created_at=datetime.now(UTC),
            )
            signed, raw = sign_envelope(self.identity, env)
            self.last = signing_hash(signed)
            out.append((signed.message_id, raw))
        return out


@dataclass(frozen=True)
class BenchWorld:
    pki: Path
    entries: list[DirectoryEntry]
    snapshot: bytes
    identities: dict[str, NodeIdentity]  # by org code

    def chain(self, code: str) -> Chain:
        return Chain(self.identities[code], self.snapshot)

    def sender_of(self, label: str) -> str:
        return ALGORITHMS[label][0]


def build_world(folder: Path, n_departments: int = 63) -> BenchWorld:
    ca = Authority.init(folder, PASSPHRASE.encode())
    identities: dict[str, NodeIdentity] = {}
    senders = max(int(code[1:]) for code, _, _ in ALGORITHMS.values())  # H01..Hnn: every sender is in it
    sector = build_sector(max(n_departments, senders), 0, merged_pair=False, with_bus=True)
    names = {entry.code: entry.name for entry in sector}  # a seal is named as its directory entry
    with ca.batch():
        for code in ("G03", "G03.BUS"):
            ca.issue_org(code, names[code])
        ca.issue_official("G03", "Cán bộ G03", "Chánh Văn phòng")
        for code, key_type, alg in ALGORITHMS.values():
            seal = ca.issue_org(code, names[code], key_type=key_type, pkcs12=False)
            official = ca.issue_official(code, f"Cán bộ {code}", "Chánh Văn phòng", key_type=key_type)
            assert seal.key is not None and official.key is not None
            identities[code] = NodeIdentity(
                code,
                FileKeyProvider(seal.key, seal.chain[:2], alg),
                FileKeyProvider(official.key, official.chain[:2], alg),
            )
    identities["G03"] = NodeIdentity.from_pki(folder, "G03", PASSPHRASE, "*")
    identities["G03.BUS"] = NodeIdentity.from_pki(folder, "G03.BUS", PASSPHRASE)
    entries = seal_entries(sector, identities["G03"].seal)
    return BenchWorld(folder, entries, DirectorySnapshot.build(entries).hash, identities)
