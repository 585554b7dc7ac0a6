"""The single writer's whole state: the chain, the Merkle tree, checkpoints and proofs (docs/AUDIT.md).

The Kafka side keeps one ``AuditLog``: it appends records (publishing ``Appended.stored``), signs a
checkpoint now and then, and serves proofs. After a restart it rebuilds from the stored records
with ``AuditLog.replay``, which refuses a log that does not chain.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Unpack

from consumers.audit.core.chain import (
    HEADER,
    HEADERS,
    INDEX_SLICE,
    PREV_HASH_SLICE,
    Appended,
    AuditChain,
    RecordFields,
    record_hash,
)
from consumers.audit.core.checkpoint import CheckpointSigner
from consumers.audit.core.errors import AuditError
from consumers.audit.core.merkle import MerkleTree
from schemas.audit import ZERO_HASH, AuditEvent, Checkpoint
from schemas.reasons import Reason

__all__ = ["AuditLog"]

logger = logging.getLogger(__name__)


class AuditLog:
    def __init__(self) -> None:
        self.chain = AuditChain()
        self.tree = MerkleTree()  # ~150 bytes of memory per record: proofs need every level

    @property
    def size(self) -> int:
        return self.chain.next_index

    @classmethod
    def replay(cls, stored: Iterable[bytes]) -> AuditLog:
        """Rebuild from the stored records in order; raises AuditError at the first that does not
        chain (run verify_log for the full diagnosis)."""
        log = cls()
        prev, hashes = ZERO_HASH, []
        for index, data in enumerate(stored):
            if (
                data[: len(HEADER)] not in HEADERS
                or data[len(HEADER) : PREV_HASH_SLICE.stop] != prev
                or int.from_bytes(data[INDEX_SLICE], "big") != index
            ):
                raise AuditError(Reason.DIGEST_MISMATCH, f"stored record {index} does not continue the chain")
            prev = record_hash(data)
            hashes.append(prev)
        log.tree.extend(hashes)
        log.chain = AuditChain(len(hashes), prev)
        logger.info("audit log replayed: %d records", len(hashes))
        return log

    def append(self, event: AuditEvent, **fields: Unpack[RecordFields]) -> Appended:
        """``AuditChain.append`` plus the Merkle leaf; the caller publishes ``stored``."""
        appended = self.chain.append(event, **fields)
        self.tree.append(appended.hash)
        return appended

    def checkpoint(self, signer: CheckpointSigner, issued_at: datetime) -> Checkpoint:
        """Sign a tree head over everything appended so far."""
        return signer.sign(self.size, self.tree.root(), self.chain.last_hash, issued_at)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return self.tree.inclusion_proof(index, size)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return self.tree.consistency_proof(old_size, new_size)
