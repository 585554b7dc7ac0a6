"""Configuration of the audit writer and the ops tools: a plain object the one settings model
(docbus/settings.py) fills from the environment (``DOCBUS_*``), or a test from arguments.

Topic names are settings so a test (or a second exchange on one cluster) can use its own; the
defaults are ADR 0001's. The audit key lives in the PKI folder (``docbus pki issue-audit``).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from consumers.audit.core.writer import CheckpointPolicy
from schemas.connection import StateFolders
from schemas.topics import (
    AUDIT_EVENTS_TOPIC,
    AUDIT_TOPIC,
    CHECKPOINT_TOPIC,
    INBOX_PREFIX,
    INGRESS_TOPIC,
    RECEIPTS_TOPIC,
)

__all__ = ["AuditConfig"]


class AuditConfig(StateFolders):
    """Topics, group and checkpoint cadence of the audit trail; the PKI folder (anchors ca/root.pem,
    CRLs crl/*, the audit key) comes from StateFolders."""

    #: the org code the audit certificate is issued to (``docbus pki issue-audit --code``)
    audit_org: str = "G03"
    audit_topic: str = AUDIT_TOPIC
    audit_events_topic: str = AUDIT_EVENTS_TOPIC
    checkpoint_topic: str = CHECKPOINT_TOPIC
    ingress_topic: str = INGRESS_TOPIC
    receipts_topic: str = RECEIPTS_TOPIC
    inbox_prefix: str = INBOX_PREFIX
    #: consumer group of the single writer on the events topic
    audit_group: str = "docbus-audit-writer"
    #: most drafts the writer takes per poll (records chained between two offset commits)
    audit_batch: int = Field(default=500, ge=1)
    #: sign a checkpoint after this many new records ...
    checkpoint_every: int = Field(default=1000, ge=1)
    #: ... or this many seconds after the last one, if anything was appended since
    checkpoint_seconds: float = Field(default=60.0, gt=0)

    def checkpoint_policy(self) -> CheckpointPolicy:
        return CheckpointPolicy(self.checkpoint_every, timedelta(seconds=self.checkpoint_seconds))

    def inbox(self, org: str) -> str:
        return self.inbox_prefix + org
