"""What a log verification reports: ok, counts, and the first fault with its kind and position."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from schemas.reasons import Reason

__all__ = ["Fault", "FaultKind", "Foreign", "VerifyReport"]


class FaultKind(StrEnum):
    DECODE = "DECODE"  # a record (or checkpoint) is not a decodable audit record
    INDEX_GAP = "INDEX_GAP"  # the index is ahead of the position: records deleted or moved later
    INDEX_DUPLICATE = "INDEX_DUPLICATE"  # an index repeats: the index is behind the position
    INDEX_SWAP = "INDEX_SWAP"  # two neighbouring records are in each other's place
    CHAIN_BROKEN = "CHAIN_BROKEN"  # a prev_hash does not match: the record at position was changed
    CHECKPOINT_SIGNATURE = "CHECKPOINT_SIGNATURE"  # signature invalid or by an unknown key
    CHECKPOINT_ROOT = "CHECKPOINT_ROOT"  # the log's tree at the checkpoint's size is not what was signed
    CHECKPOINT_INCONSISTENT = "CHECKPOINT_INCONSISTENT"  # two checkpoints contradict each other
    TRUNCATED = "TRUNCATED"  # the log is shorter than a checkpoint says
    FOREIGN_RECORD = Reason.FOREIGN_RECORD.value  # not the audit writer's record (position: in the topic)


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    position: int | None  # record index; None for an undecodable checkpoint (size unknown)
    message: str
    checkpoint: int | None = None  # position of the checkpoint in the given sequence, if involved


@dataclass(frozen=True, slots=True)
class Foreign:
    """A record on the audit topic that is not the writer's (consumers.audit.core.sieve)."""

    position: int  # in the topic (its offset), or in the sequence given
    index: int | None  # the index it claims (None if it is no audit record at all)
    why: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    records: int  # records before the first fault's position (all of them when ok)
    checkpoints: int  # checkpoints verified
    last_hash: bytes  # hash of the last verified record (ZERO_HASH for none)
    fault: Fault | None = None
    foreign: tuple[Foreign, ...] = ()  # every record skipped as not the writer's, in topic order
