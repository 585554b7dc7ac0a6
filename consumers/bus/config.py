"""Configuration of the bus processors: a plain object the one settings model (docbus/settings.py)
fills from the environment (``DOCBUS_*``), or a test from arguments.

Every number here is a documented limit: freshness window, clock skew, how often the CRL folder
is looked at, how long the directory catch-up may take.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field

from consumers.bus.decide.policy import PolicyConfig
from schemas.connection import StateFolders
from schemas.limits import DEFAULT_LIMITS, Limits

__all__ = ["BusConfig"]


class BusConfig(StateFolders):
    """The bus's limits and names; home, PKI folder and passphrase (the bus seals its notices with
    its own key) come from StateFolders. Faust table data lives in <home>/bus."""

    #: the bus's own org code: it seals 01/02 notices (ADR 0001, "Identities")
    bus_org: str = "G03.BUS"
    #: the directory authority whose seal every directory entry carries
    directory_org: str = "G03"
    #: replication of the faust table changelogs (3 on the production cluster)
    changelog_replication: int = Field(default=1, ge=1)
    #: faust app id: consumer group and table changelog names derive from it
    app_id: str = "docbus-bus"
    #: an envelope must reach the bus within this window after created_at
    max_age: timedelta = timedelta(hours=24)
    #: how far a node clock may run ahead of the bus
    max_skew: timedelta = timedelta(minutes=5)
    #: accept any first sequence of a sender (a bus joining a running exchange); off by default
    learn_first_sequence: bool = False
    #: seconds between looks at <pki_dir>/crl for changed CRL files
    crl_check_interval: float = Field(default=10.0, gt=0)
    #: seconds a directory catch-up may take before the processor gives up waiting
    directory_timeout: float = Field(default=30.0, gt=0)
    #: seconds without heartbeats before the group drops a dead worker (a restart waits this long)
    session_timeout: float = Field(default=10.0, gt=0)
    #: records an agent decides before awaiting their outputs together (throughput vs. redo on crash)
    batch_size: int = Field(default=200, ge=1)
    #: seconds an agent waits to fill a batch before deciding what it has
    batch_wait: float = Field(default=0.005, gt=0)
    #: records read ahead of deciding, in a lane per source partition (consumers/bus/agents/lanes.py):
    #: what lets one partition's flood be passed by the others' records; the stream waits beyond it
    read_ahead: int = Field(default=16_384, ge=1)
    #: bytes of record values held in those lanes at most
    read_ahead_bytes: int = Field(default=32 * 1024 * 1024, ge=1)
    #: records of one source partition a poll of the consumer takes at most (consumers/bus/fetch.py):
    #: mail fetched for another partition during a flood waits behind this many of the flood's, not
    #: behind the flood's whole fetch (about 9,000 junk records in 2 MiB); what is left of a fetch
    #: waits in the consumer's buffer, so a smaller bound costs polls, not broker round trips
    fetch_per_partition: int = Field(default=200, ge=1)
    #: seconds the broker holds the consumer's fetch for new records at most: mail on a partition
    #: that was busy when a fetch for the idle ones was sent waits this long (consumers/bus/fetch.py)
    fetch_wait: float = Field(default=0.05, gt=0, le=10)
    #: 02 notices a sender may get at once, refilled at notices_per_minute (a forgery flood naming
    #: an org costs its inbox no more; every refusal is still quarantined and audited)
    notice_burst: int = Field(default=20, ge=0)
    notices_per_minute: float = Field(default=60.0, ge=0)
    #: seconds `docbus bus run` gives faust's graceful stop after SIGTERM/SIGINT before it exits
    #: anyway (nothing is lost: what was not committed is decided again by the next worker, ADR 0001)
    stop_timeout: float = Field(default=10.0, gt=0)
    #: faust worker log level: crit|error|warn|info|debug
    log_level: str = "info"
    #: whole encoded envelope, refused above (TOO_LARGE); large files travel as chunks instead
    max_message_bytes: int = Field(default=DEFAULT_LIMITS.max_message_bytes, ge=64 * 1024)
    #: one payload or attachment, inline or as chunks on docbus.blobs (TOO_LARGE)
    max_payload_bytes: int = Field(default=DEFAULT_LIMITS.max_payload_bytes, ge=1)
    #: the payload and every attachment of one envelope together (TOO_LARGE)
    max_total_bytes: int = Field(default=DEFAULT_LIMITS.max_total_bytes, ge=1)
    #: seconds a referenced chunk may be missing from docbus.blobs before BLOB_INCOMPLETE
    blob_wait: float = Field(default=30.0, gt=0)
    #: a node sends files up to this size inline, larger ones as chunks (docs/ENVELOPE.md §7)
    inline_max_bytes: int = Field(default=256 * 1024, ge=0)
    #: bytes per chunk a node produces (4 KiB .. 1 MiB)
    chunk_bytes: int = Field(
        default=1024 * 1024, ge=DEFAULT_LIMITS.min_chunk_bytes, le=DEFAULT_LIMITS.max_chunk_bytes
    )

    @property
    def data_dir(self) -> Path:
        return self.home / "bus"

    def limits(self) -> Limits:
        return Limits(
            max_message_bytes=self.max_message_bytes, max_payload_bytes=self.max_payload_bytes,
            max_total_bytes=self.max_total_bytes,
        )  # fmt: skip

    def policy(self) -> PolicyConfig:
        return PolicyConfig(
            max_age=self.max_age, max_skew=self.max_skew, learn_first_sequence=self.learn_first_sequence
        )
