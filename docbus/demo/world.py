"""The demo's ministry on disk: its PKI ceremony and its sealed sector directory.

Root + issuing CA, a seal for every organisation of the directory (the bus ``G03.BUS`` and the
directory authority ``G03`` among them), the audit key, officials for the orgs that sign
documents, and one official's certificate revoked (a lost key) with the CRL published.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from docbus.directory_load import seal_entries
from docbus.pki_folder import with_encryption_certificates
from docbus.sector import MINISTRY, build_sector
from infra.pki import Authority
from infra.pki.tls import issue_tls
from infra.security import issue_service_identities
from producers.identity import NodeIdentity
from schemas.directory import DirectoryEntry
from schemas.directory_store import DirectorySnapshot

__all__ = ["LOST_KEY", "OFFICIALS", "DemoWorld", "build_world", "university"]

#: who signs documents in the demo: org -> (full name, position)
OFFICIALS = {
    MINISTRY: ("Nguyễn Văn An", "Thứ trưởng"),
    "H02": ("Lê Văn Hùng", "Giám đốc"),  # its certificate is revoked: the key was lost
    "H03": ("Phạm Thị Lan", "Phó Giám đốc"),
    "G03.U001": ("Trần Thị Bình", "Hiệu trưởng"),
    "G03.U002": ("Lê Văn Cường", "Hiệu trưởng"),
    "G03.U003": ("Hoàng Minh Đức", "Hiệu trưởng"),
    "G03.U004": ("Vũ Thị Hà", "Hiệu trưởng"),
}
LOST_KEY = "H02"


def university(i: int) -> str:
    """``G03.U001`` for i = 1."""
    return f"{MINISTRY}.U{i:03d}"


@dataclass(frozen=True)
class DemoWorld:
    pki: Path
    passphrase: str
    entries: list[DirectoryEntry]
    snapshot: DirectorySnapshot
    revoked_serial: str

    def identity(self, code: str, *, signs: bool = False) -> NodeIdentity:
        return NodeIdentity.from_pki(self.pki, code, self.passphrase, "*" if signs else None)

    @property
    def departments(self) -> list[str]:
        return sorted(e.code for e in self.entries if e.kind.value == "department" and e.active)


def build_world(pki: Path, passphrase: str, departments: int, universities: int) -> DemoWorld:
    """Issue everything into the (new) folder ``pki`` and seal the directory as G03."""
    sector = build_sector(departments, universities, with_bus=True)
    ca = Authority.init(pki, passphrase.encode())
    with ca.batch():
        for entry in sector:
            if entry.active:
                ca.issue_org(entry.code, entry.name)
        for code, (person, position) in OFFICIALS.items():
            if any(e.code == code for e in sector):
                issued = ca.issue_official(code, person, position)
                if code == LOST_KEY:
                    lost = f"{issued.cert.serial_number:x}"
        ca.issue_audit()
        # the transport logins: one per org (its Kafka principal), the broker's and the services'
        for entry in sector:
            if entry.active:
                issue_tls(ca, entry.code)
        issue_service_identities(ca)
    ca.revoke(lost)  # publishes the CRL
    authority = NodeIdentity.from_pki(pki, MINISTRY, passphrase)
    entries = seal_entries(with_encryption_certificates(sector, pki), authority.seal)
    return DemoWorld(pki, passphrase, entries, DirectorySnapshot.build(entries), lost)
