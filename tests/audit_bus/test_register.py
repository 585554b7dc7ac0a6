"""register_audit adds the writer to the bus app only when it can run it."""

from __future__ import annotations

from pathlib import Path

import faust
import pytest

from consumers.agents.audit import register_audit
from consumers.settings import BusSettings
from tests.audit_bus.conftest import PASS, AuditPki


def _app(tmp_path: Path) -> faust.App:
    return faust.App("audit-register-test", broker="kafka://127.0.0.1:9", store="memory://",
                     datadir=str(tmp_path), web_enabled=False)  # fmt: skip


def test_registered_with_an_audit_key(tmp_path: Path, audit_pki: AuditPki) -> None:
    settings = BusSettings(pki_dir=audit_pki.folder, pki_passphrase=PASS)
    service = register_audit(_app(tmp_path), settings)
    assert service is not None and service.topics.audit == "docbus.audit"


def test_not_registered_without_a_key_or_when_run_apart(
    tmp_path: Path, audit_pki: AuditPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert register_audit(_app(tmp_path), BusSettings(pki_dir=tmp_path / "empty")) is None
    monkeypatch.setenv("DOCBUS_AUDIT_IN_BUS", "false")
    assert register_audit(_app(tmp_path), BusSettings(pki_dir=audit_pki.folder, pki_passphrase=PASS)) is None
