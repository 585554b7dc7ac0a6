"""The audit writer inside the bus worker: one background task running the single writer loop.

Not a faust agent on purpose: the writer must rebuild from docbus.audit before it reads a draft,
commit the events offsets only after docbus.audit acknowledged the chained records, and stay ONE
instance (a faust agent's partitions would be split between workers). So it is a faust task that
runs consumers.audit.service.AuditWriterService with its own consumer and producer. Run the bus
with one worker, or run the writer apart with ``docbus audit writer`` and don't register it here.
"""

from __future__ import annotations

import logging

import faust

from consumers.audit.service import AuditWriterService
from consumers.audit.settings import AuditSettings
from consumers.settings import BusSettings

__all__ = ["register_audit"]

logger = logging.getLogger(__name__)


def register_audit(app: faust.App, settings: BusSettings) -> AuditWriterService | None:
    """Add the audit writer task to ``app``; its other settings come from DOCBUS_* (AuditSettings).

    Registers nothing (and says so) when DOCBUS_AUDIT_IN_BUS=false or the PKI folder holds no audit
    key (`docbus pki issue-audit`): the bus still runs, its drafts wait on the events topic."""
    audit = AuditSettings(
        home=settings.home,
        bootstrap=settings.bootstrap,
        pki_dir=settings.pki,
        pki_passphrase=settings.pki_passphrase,
    )
    if not audit.audit_in_bus:
        logger.info("audit writer not run in the bus (DOCBUS_AUDIT_IN_BUS=false)")
        return None
    if not (audit.pki / "audit" / "audit.key.pem").exists():
        logger.warning("no audit key in %s: the audit writer does not run", audit.pki)
        return None
    service = AuditWriterService.from_settings(audit)

    async def audit_writer() -> None:
        logger.info("audit writer starting on %s", audit.audit_events_topic)
        await service.run()

    app.task(audit_writer)
    return service
