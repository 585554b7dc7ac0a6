"""What the demo reports: the quarantine records of this run's refused envelopes, and the summary
(written to ``<state>/summary.json``, read by the tables and by the tests)."""

from __future__ import annotations

from typing import Any

from docbus.demo.auditcheck import AuditCheck
from docbus.demo.config import DemoConfig
from docbus.demo.kafka import header, read_until
from docbus.demo.tally import Tally
from docbus.settings import ADMIN
from schemas.codec import decode
from schemas.quarantine import QuarantineRecord

__all__ = ["build_summary", "read_quarantine"]


async def read_quarantine(cfg: DemoConfig, tally: Tally, start: dict[Any, int]) -> None:
    wanted = {r.message_id: r for r in tally.rejections.values()}

    def mine(records: list[Any]) -> list[QuarantineRecord]:
        found = [
            decode(r.value, QuarantineRecord) for r in records if header(r, "docbus_processor") == cfg.app_id
        ]
        return [q for q in found if q.message_id in wanted]

    for q in mine(
        await read_until(cfg.connection(ADMIN), start, lambda rs: len(mine(rs)) >= len(wanted), timeout=30)
    ):
        wanted[q.message_id or ""].quarantined = q.reason.value


def build_summary(
    cfg: DemoConfig, tally: Tally, check: AuditCheck, exchange_s: float, elapsed_s: float, kept: bool
) -> dict[str, Any]:
    documents = [d.as_json() for d in tally.documents.values()]
    for doc, d in zip(documents, tally.documents.values(), strict=True):
        doc["first"] = sorted(d.expected)[0] if d.expected else d.sender
    return {
        "run": cfg.run, "departments": cfg.departments, "universities": cfg.universities,
        "documents": documents, "rejected": [r.as_json() for r in tally.rejections.values()],
        "complete": tally.complete and tally.quarantined, "inbox_events": dict(tally.events),
        "audit": check.as_json(),
        "topics": {"audit": cfg.audit_topic, "checkpoints": cfg.checkpoint_topic},
        "exchange_s": round(exchange_s, 2), "elapsed_s": round(elapsed_s, 2), "kept_running": kept,
        "summary_file": str(cfg.summary_file), "env": cfg.env(),
    }  # fmt: skip
