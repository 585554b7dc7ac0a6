"""The end of the demo's story: the audit log of this run, signed and verified like
`docbus audit verify` does it (chain, checkpoint signatures from a trusted audit certificate)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from consumers.audit.config import AuditConfig
from consumers.audit.core.trusted import verify_trusted
from consumers.audit.kafka.logview import LogView, audit_certificate, load_log
from docbus.demo.config import PASSPHRASE, DemoConfig
from docbus.pki_folder import trust_policy_from_pki
from docbus.settings import ADMIN
from schemas.audit import Checkpoint
from schemas.codec import decode

__all__ = ["AuditCheck", "check_audit", "settle_audit"]


@dataclass(frozen=True)
class AuditCheck:
    ok: bool
    records: int
    checkpoints: int
    signed: int  # records the newest checkpoint covers
    about_demo: int  # records about this run's message ids
    fault: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "records": self.records, "checkpoints": self.checkpoints,
                "signed": self.signed, "about_demo": self.about_demo, "fault": self.fault}  # fmt: skip


def settings_of(cfg: DemoConfig) -> AuditConfig:
    return AuditConfig(
        pki_dir=cfg.pki, pki_passphrase=PASSPHRASE,
        audit_topic=cfg.audit_topic, checkpoint_topic=cfg.checkpoint_topic,
    )  # fmt: skip


def _signed(view: LogView) -> int:
    return max((decode(c, Checkpoint).tree_size for c in view.checkpoints), default=0)


async def settle_audit(cfg: DemoConfig, message_ids: Iterable[str], minimum: int, timeout: float) -> LogView:
    """Wait until the log holds at least ``minimum`` records about ``message_ids`` and a checkpoint
    covers the last of them (the writer signs 1 s after an append; other exchanges on a shared
    broker may keep appending after ours). Returns the log as last read, even past the deadline."""
    ids, settings = set(message_ids), settings_of(cfg)
    deadline = time.monotonic() + timeout
    while True:
        view = await load_log(
            settings, cfg.connection(ADMIN), trust_policy_from_pki(cfg.pki), now=datetime.now(UTC)
        )
        ours = [i for i, r in enumerate(view.records) if r is not None and r.message_id in ids]
        if len(ours) >= minimum and _signed(view) > ours[-1]:
            return view
        if time.monotonic() > deadline:
            return view
        await asyncio.sleep(0.5)  # the writer batches and signs on its own clock: poll it


def check_audit(cfg: DemoConfig, view: LogView, message_ids: Iterable[str]) -> AuditCheck:
    ids = set(message_ids)
    report = verify_trusted(view.topic, view.checkpoints, trust_policy_from_pki(cfg.pki),
                            org="G03", now=datetime.now(UTC),
                            certificates=audit_certificate(settings_of(cfg)))  # fmt: skip
    fault = "" if report.fault is None else f"{report.fault.kind.value}: {report.fault.message}"
    about = sum(1 for r in view.records if r is not None and r.message_id in ids)
    return AuditCheck(report.ok, report.records, report.checkpoints, _signed(view), about, fault)
