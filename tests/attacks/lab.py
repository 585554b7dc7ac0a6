"""A small ministry PKI and sealed sector directory for the attack and fuzz suites, and the
validator's bookkeeping (sender states, routed ids) held in memory, as the bus agent holds it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from consumers.bus.decide.policy import SenderState
from consumers.bus.decide.receipt_check import ReceiptCheck
from consumers.bus.decide.routed import RoutedRecord
from consumers.bus.decide.validator import Accepted, Decision, Validator
from docbus.directory_load import seal_entries
from docbus.pki_folder import TrustFiles
from docbus.sector import build_sector
from infra.pki import Authority, Issued, KeyType
from producers.builder import DocumentDraft, build_envelope
from producers.identity import NodeIdentity
from producers.keys import FileKeyProvider, sign_dual
from schemas.canonical import envelope_signing_input, signing_hash
from schemas.codec import encode
from schemas.directory import DirectoryEntry
from schemas.directory_store import DirectorySnapshot, DirectoryStore
from schemas.document import Competence, DocumentType
from schemas.envelope import ZERO_HASH, Envelope
from schemas.header import SignerInfo
from schemas.payload import Payload

PASS = b"attack-lab-passphrase"


def provider(issued: Issued, algorithm: object = None) -> FileKeyProvider:
    assert issued.key is not None
    return FileKeyProvider(issued.key, issued.chain, algorithm)  # type: ignore[arg-type]


@dataclass
class Lab:
    pki: Path
    authority: Authority
    entries: list[DirectoryEntry]
    snapshot: bytes
    seals: dict[str, Issued]  # org code -> seal certificate (P-256)
    officials: dict[str, Issued]  # org code -> official (P-256)
    extra: dict[str, Issued]  # named odd certificates (expired, RSA, Ed25519, ...)

    def identity(self, code: str, official: Issued | None = None) -> NodeIdentity:
        return NodeIdentity(code, provider(self.seals[code]), provider(official or self.officials[code]))

    def bus(self) -> Bus:
        return Bus(self)


def build_lab(folder: Path) -> Lab:
    now = datetime.now(UTC)
    # CAs from about three years back, so a certificate that expired long ago still chains
    ca = Authority.init(folder, PASS, now=now - timedelta(days=1000))
    codes = ("G03", "G03.BUS", "H01", "H02", "H03", "H04", "G03.U001", "G03.U002")
    sector = build_sector(4, 2, with_bus=True)
    names = {entry.code: entry.name for entry in sector}  # a seal is named as its directory entry
    with ca.batch():
        seals = {c: ca.issue_org(c, names[c]) for c in codes}
        officials = {c: ca.issue_official(c, f"Cán bộ {c}", "Chánh Văn phòng") for c in codes[:6]}
        long_ago, later = now - timedelta(days=400), now + timedelta(days=30)
        extra = {
            "expired": ca.issue_official("H01", "Cán bộ Hết Hạn", "CV", not_before=long_ago, days=30),
            "future": ca.issue_official("H01", "Cán bộ Tương Lai", "Chuyên viên", not_before=later),
            "revoked": ca.issue_official("H01", "Cán bộ Thu Hồi", "Chuyên viên"),
            "rsa": ca.issue_official("H01", "Cán bộ RSA", "Chuyên viên", key_type=KeyType.RSA2048),
            "ed25519": ca.issue_official("H01", "Cán bộ Ed", "Chuyên viên", key_type=KeyType.ED25519),
            "outsider": ca.issue_org("X99", "Tổ chức ngoài danh bạ"),
            "outsider-official": ca.issue_official("X99", "Cán bộ X99", "Giám đốc"),
            "audit": ca.issue_audit(),
        }  # fmt: skip
    ca.revoke(f"{extra['revoked'].cert.serial_number:x}")
    ca.publish_crl()
    g03 = NodeIdentity("G03", provider(seals["G03"]), provider(officials["G03"]))
    entries = seal_entries(sector, g03.seal)
    return Lab(folder, ca, entries, DirectorySnapshot.build(entries).hash, seals, officials, extra)


@dataclass
class Chain:
    """A sender's node chain: the next sequence and previous hash."""

    lab: Lab
    code: str
    sequence: int = 0
    last: bytes = ZERO_HASH
    count: int = field(default=0)

    def unsigned(
        self, recipients: tuple[str, ...] = ("H02",), groups: tuple[str, ...] = (), **kw: Any
    ) -> Envelope:
        self.count += 1
        draft = DocumentDraft(
            document_type=DocumentType.CONG_VAN,
            code_number=str(self.count),
            code_notation="KT",
            subject=f"Về việc kiểm thử {self.count}",
            payload=Payload.of("vb.pdf", "application/pdf", b"%PDF-1.7 " + bytes([self.count % 256])),
            recipients=recipients,
            groups=groups,
        )
        env = build_envelope(
            self.lab.identity(self.code),
            draft,
            sequence=self.sequence + 1,
            previous_hash=self.last,
            **{"directory_snapshot": self.lab.snapshot, **kw},
        )
        self.sequence += 1
        self.last = signing_hash(env)
        return env

    def signed(self, *recipients: str, official: Issued | None = None, **kw: Any) -> tuple[Envelope, bytes]:
        env = self.unsigned(recipients or ("H02",), **kw)
        return sign(self.lab, env, self.code, official=official)


def sign(
    lab: Lab,
    env: Envelope,
    code: str,
    *,
    official: Issued | None = None,
    seal: Issued | None = None,
    at: datetime | None = None,
) -> tuple[Envelope, bytes]:
    """Sign ``env`` as the node of ``code`` would, with any official or seal certificate swapped in
    (the header's signer then names the swapped official, as a node's builder writes it)."""
    off = provider(official or lab.officials[code])
    org = provider(seal or lab.seals[code])
    if official is not None:
        env = env.model_copy(update={"document": env.document.model_copy(update={"signer": _signer_of(off)})})
    signed = env.model_copy(update={"signatures": sign_dual(off, org, envelope_signing_input(env), at)})
    return signed, encode(signed)


def _signer_of(official: FileKeyProvider) -> SignerInfo:
    subject = x509.load_der_x509_certificate(official.chain[0]).subject

    def attr(oid: x509.ObjectIdentifier) -> str:
        found = subject.get_attributes_for_oid(oid)
        return str(found[0].value) if found else ""

    return SignerInfo(competence=Competence.NONE, position=attr(NameOID.TITLE) or "Người ký",
                      full_name=attr(NameOID.COMMON_NAME))  # fmt: skip


class Bus:
    """The validate agent's two tables in memory around the pure validator and receipt check."""

    def __init__(self, lab: Lab) -> None:
        store = DirectoryStore()
        store.apply(lab.entries)
        trust = TrustFiles(lab.pki)
        self.validator = Validator(trust.policy, store)
        self.receipts = ReceiptCheck(trust.policy)
        self.states: dict[str, SenderState] = {}
        self.routed: dict[str, RoutedRecord] = {}
        self.offset = 0

    def check(self, raw: bytes, *, now: datetime | None = None, forget_routed: bool = False) -> Decision:
        self.offset += 1
        position = (0, self.offset)
        d = self.validator.check(
            raw,
            now=now or datetime.now(UTC),
            position=position,
            state_of=lambda s: self.states.get(s, SenderState()),
            routed_of=(lambda _: None) if forget_routed else self.routed.get,
        )
        if isinstance(d, Accepted) and not d.duplicate:
            rec = RoutedRecord(
                d.sender, d.plan.recipients, d.signing_hash, d.envelope.document.document_id, position
            )
            self.routed[d.envelope.message_id] = rec
            self.states[d.sender] = d.state
        return d
