"""A small sector with a real PKI for the bus tests: 5 departments, 3 universities, the ministry,
the bus org; officials for the senders; H03's certificates revoked."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from docbus.directory_load import seal_entries
from docbus.pki_folder import with_encryption_certificates
from docbus.sector import build_sector
from infra.pki import Authority
from producers.builder import DocumentDraft, build_envelope, sign_envelope
from producers.identity import NodeIdentity
from producers.keys import sign_dual
from schemas.canonical import envelope_signing_input, signing_hash
from schemas.codec import encode
from schemas.directory import DirectoryEntry
from schemas.directory_store import DirectorySnapshot
from schemas.document import BusinessType, Competence, DocumentType, SecurityLevel
from schemas.edxml import EdxmlBusiness, EdxmlDetails
from schemas.envelope import ZERO_HASH, Envelope
from schemas.header import SignerInfo
from schemas.payload import Payload

PASSPHRASE = "bus-test-passphrase"
DEPARTMENTS = ("H01", "H02", "H03", "H04", "H05")
UNIVERSITIES = ("G03.U001", "G03.U002", "G03.U003")
SENDERS = ("G03", "H01", "H02", "H03", "H04", "H05")
REVOKED = "H03"  # revoked before the bus starts
REVOKED_LATER = "H05"  # revoked while the bus runs (tests/bus/test_crl.py)


@dataclass(frozen=True)
class World:
    pki: Path
    entries: list[DirectoryEntry]
    snapshot: bytes
    identities: dict[str, NodeIdentity]

    def sender(self, code: str) -> Sender:
        return Sender(self.identities[code], self.snapshot)


def build_world(folder: Path) -> World:
    ca = Authority.init(folder, PASSPHRASE.encode())
    sector = build_sector(len(DEPARTMENTS), len(UNIVERSITIES), with_bus=True)
    names = {entry.code: entry.name for entry in sector}  # a seal is named as its directory entry
    with ca.batch():
        for code in ("G03", "G03.BUS", *DEPARTMENTS, *UNIVERSITIES):
            ca.issue_org(code, names[code])
        for code in SENDERS:
            ca.issue_official(code, f"Cán bộ {code}", "Chánh Văn phòng")
    ca.revoke(REVOKED)
    identities = {code: NodeIdentity.from_pki(folder, code, PASSPHRASE, "*") for code in SENDERS}
    identities["G03.BUS"] = NodeIdentity.from_pki(folder, "G03.BUS", PASSPHRASE)
    for code in (*DEPARTMENTS, *UNIVERSITIES):
        if code not in identities:
            identities[code] = NodeIdentity.from_pki(folder, code, PASSPHRASE)
    entries = seal_entries(with_encryption_certificates(sector, folder), identities["G03"].seal)
    return World(folder, entries, DirectorySnapshot.build(entries).hash, identities)


# số/ký hiệu is one document per issuer and year (DUPLICATE_DOCUMENT): every envelope any Sender of
# the process builds gets its own number, so two chains (channels) of one org never share one
_NUMBERS = itertools.count(1)


@dataclass
class Sender:
    """A node's chain: next sequence and previous hash, advanced by every envelope built."""

    identity: NodeIdentity
    snapshot: bytes
    sequence: int = 0
    last: bytes = ZERO_HASH
    count: int = field(default=0)
    channel: str = ""  # the sending product's chain (schemas/continuity.py)

    def envelope(
        self,
        recipients: tuple[str, ...] = (),
        groups: tuple[str, ...] = (),
        *,
        snapshot: bytes | None = None,
        created_at: datetime | None = None,
        advance: bool = True,
    ) -> tuple[Envelope, bytes]:
        self.count += 1
        draft = DocumentDraft(
            document_type=DocumentType.CONG_VAN,
            code_number=str(next(_NUMBERS)),  # one số per document, whichever chain builds it
            code_notation="TEST",
            subject=f"Thử nghiệm {self.count}",
            payload=Payload.of("vb.pdf", "application/pdf", b"%PDF-1.7 " + str(self.count).encode()),
            recipients=recipients,
            groups=groups,
        )
        env = build_envelope(
            self.identity,
            draft,
            sequence=self.sequence + 1,
            previous_hash=self.last,
            directory_snapshot=self.snapshot if snapshot is None else snapshot,
            created_at=created_at,
        )
        if self.channel:
            env = env.model_copy(update={"channel": self.channel})
        signed, raw = sign_envelope(self.identity, env)
        if advance:
            self.sequence += 1
            self.last = signing_hash(signed)
        return signed, raw

    def secret(self, recipients: tuple[str, ...]) -> tuple[Envelope, bytes]:
        """A properly signed envelope of a secret document (the node tooling refuses to sign it)."""
        env, _ = self.envelope(recipients, advance=False)
        doc = env.document.model_copy(update={"security_level": SecurityLevel.SECRET})
        unsigned = env.model_copy(update={"document": doc, "signatures": []})
        official = self.identity.require_official()
        sigs = sign_dual(official, self.identity.seal, envelope_signing_input(unsigned))
        signed = unsigned.model_copy(update={"signatures": sigs})
        # authenticated, so the bus counts its number in the chain although it refuses it
        self.sequence, self.last = signed.sequence, signing_hash(signed)
        return signed, encode(signed)


    def field_bug(self, recipients: tuple[str, ...], *, trailing: bytes = b"", sign: bool = True) -> Envelope:
        """A properly signed envelope the contract refuses: its recipients (a duplicate breaks the
        model's rule) as given, ``trailing`` bytes after the body when set. ``sign=False``: the
        same after its signatures stopped matching (a forgery naming this org). Counts its number."""
        env, _ = self.envelope(recipients[:1], advance=False)
        unsigned = env.model_copy(update={"recipients": list(recipients), "signatures": []})
        official = self.identity.require_official()
        sigs = sign_dual(official, self.identity.seal, envelope_signing_input(unsigned))
        signed = unsigned.model_copy(update={"signatures": sigs})
        if sign:
            self.sequence, self.last = signed.sequence, signing_hash(signed)
        else:
            doc = signed.document.model_copy(update={"subject": signed.document.subject + " (sửa)"})
            signed = signed.model_copy(update={"document": doc})
        return signed


    def variant(self, recipients: tuple[str, ...], *, payload: Payload | None = None,
                edxml: EdxmlDetails | None = None, sender_name: str | None = None,
                **document: object) -> Envelope:
        """A properly signed envelope whose header fields (``document``: subject=..., signer=...),
        payload or sender name were set after building, unchecked: what a vendor's own builder
        might sign."""
        env, _ = self.envelope(recipients, advance=False)
        doc = env.document.model_copy(update=document)
        update: dict[str, object] = {"document": doc, "signatures": []}
        if sender_name is not None:
            update["sender"] = env.sender.model_copy(update={"name": sender_name})
        if payload is not None:
            update["payload"] = payload
        if edxml is not None:
            update["edxml"] = edxml
        unsigned = env.model_copy(update=update)
        official = self.identity.require_official()
        sigs = sign_dual(official, self.identity.seal, envelope_signing_input(unsigned))
        signed = unsigned.model_copy(update={"signatures": sigs})
        self.sequence, self.last = signed.sequence, signing_hash(signed)
        return signed


# a department official's header claiming the minister's signature
MINISTER = SignerInfo(competence=Competence.TM, position="Bộ trưởng", full_name="Nguyễn Kim Sơn")


def named_payload(file_name: str) -> Payload:
    """A payload under a file name the contract refuses (built without its rules)."""
    good = Payload.of("vb.pdf", "application/pdf", b"%PDF-1.7 named")
    return Payload.model_construct(**{**dict(good), "file_name": file_name})


def same_number(sender: Sender, original: Envelope, recipients: tuple[str, ...], *,
                amends: BusinessType | None = None, names: str | None = None) -> Envelope:
    """Another envelope (new message id, properly signed) under ``original``'s số/ký hiệu, as a
    re-signed copy or, with ``amends``, an edXML update/replacement naming ``names``."""
    d = original.document
    fields: dict[str, object] = {
        "code_number": d.code_number, "code_notation": d.code_notation, "document_id": d.document_id,
        "promulgation_date": d.promulgation_date,
    }  # fmt: skip
    if amends is None:
        return sender.variant(recipients, **fields)
    details = EdxmlDetails(business=EdxmlBusiness(document_id=names or d.document_id, reason="đính chính"))
    return sender.variant(recipients, edxml=details, business_type=amends, **fields)


def raw_of(env: Envelope, trailing: bytes = b"") -> bytes:
    """The envelope's bytes, not checked against the contract (``trailing`` after the body)."""
    return encode(env) + trailing


def forge(env: Envelope) -> bytes:
    """The envelope with its subject changed after signing: the signatures no longer verify."""
    doc = env.document.model_copy(update={"subject": env.document.subject + " (sửa)"})
    return encode(env.model_copy(update={"document": doc}))
