"""A small PKI for node tests: two universities, the ministry, a department and the bus itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from consumers.trust import TrustPolicy
from docbus.pki_folder import trust_policy_from_pki
from infra.pki import Authority
from producers.identity import NodeIdentity

PASS = "node-test-passphrase"
OFFICIALS = {
    "G03": ("G03.15", "Nguyễn Văn An", "Chánh Văn phòng"),
    "G03.U001": ("G03.U001", "Trần Thị Bình", "Hiệu trưởng"),
    "G03.U002": ("G03.U002", "Lê Văn Cường", "Hiệu trưởng"),
    "H01": ("H01", "Phạm Thị Dung", "Giám đốc"),
}


@dataclass(frozen=True)
class NodePki:
    folder: Path
    authority: Authority

    def identity(self, code: str, official: str | None = "*") -> NodeIdentity:
        return NodeIdentity.from_pki(self.folder, code, PASS, official if code in OFFICIALS else None)

    def policy(self) -> TrustPolicy:
        return trust_policy_from_pki(self.folder)


@pytest.fixture(scope="session")
def node_pki(tmp_path_factory: pytest.TempPathFactory) -> NodePki:
    folder = tmp_path_factory.mktemp("nodepki") / "pki"
    a = Authority.init(folder, PASS.encode())
    with a.batch():
        for code, name in [
            ("G03", "Bộ Giáo dục và Đào tạo"),
            ("G03.BUS", "docbus"),
            ("G03.U001", "Trường Đại học Sư phạm Hà Nội"),
            ("G03.U002", "Trường Đại học Kinh tế Hà Nội"),
            ("H01", "Sở GD&ĐT Hà Nội"),
        ]:
            a.issue_org(code, name)
        for unit, person, position in OFFICIALS.values():
            a.issue_official(unit, person, position)
    a.publish_crl()
    return NodePki(folder, a)
