"""Tell the writer's records from foreign ones on the audit topic (docs/AUDIT.md §2a).

The writer's chain is the records it wrote and sealed; anything else on the topic is **foreign**:
written by someone else (no valid seal), or a copy of a record the chain already holds. The sieve
streams the topic's records and yields the writer's, in topic order, so ``verify_log``, the writer's
rebuild and the ops tools see the writer's chain only; the foreign records are listed with their
topic positions.

Checking every seal would cost a signature verification per record, so the sieve only checks where
the chain alone cannot decide. Records that extend the chain are held back until a signed checkpoint
confirms them (its ``last_hash`` is the newest of them: the hash chain then vouches for all of them,
since the writer never chains onto a record it did not write), or until a record that does not
extend the chain carries a valid seal (then the held records are seal-checked one by one: a correctly
chained forgery is dropped there), or at the end (the tail no checkpoint covers yet is seal-checked).
A record that does not extend the chain and has no valid seal is foreign at once. The writer's own
records that do not extend the chain (deleted or reordered records) pass on, and ``verify_log``
diagnoses them as before.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from consumers.audit.core.chain import CHAIN_CONTEXT, HEADER, INDEX_SLICE, PREV_HASH_SLICE
from consumers.audit.core.checkpoint import AuditPublicKey, verify_checkpoint
from consumers.audit.core.errors import AuditError
from consumers.audit.core.report import Foreign
from consumers.audit.core.seal import seal_verifies
from schemas.audit import ZERO_HASH, Checkpoint

__all__ = ["Foreign", "Sieve", "Stored"]

_HELD_LIMIT = 65536  # records held back unconfirmed before they are seal-checked anyway
_MIN_LEN = INDEX_SLICE.stop


@dataclass(frozen=True, slots=True)
class Stored:
    """One record as read from the topic: its exact bytes and the seal stored beside them."""

    data: bytes
    seal: bytes | None = None


@dataclass(slots=True)
class _Item:
    position: int
    stored: Stored
    hash: bytes
    index: int


@dataclass
class Sieve:
    """Feed it the topic's records once (``run``); ``foreign`` lists what it dropped.

    ``checkpoints`` are used only if their signature verifies under ``keys`` (a forged one must not
    vouch for anything); ``keys`` also check the seals."""

    checkpoints: Iterable[Checkpoint]
    keys: Mapping[str, AuditPublicKey]
    foreign: list[Foreign] = field(default_factory=list)
    genesis: bytes | None = None  # record_hash of the chain's record 0
    seals_checked: int = 0
    _confirm: dict[int, bytes] = field(default_factory=dict)
    _head: tuple[bytes, int] = (ZERO_HASH, 0)  # (hash of the last record passed on, next index)
    _passed: array[int] = field(default_factory=lambda: array("Q"))  # 8-byte hash prefix by index

    def __post_init__(self) -> None:
        for cp in self.checkpoints:
            try:
                verify_checkpoint(cp, self.keys)
            except AuditError:
                continue
            if cp.tree_size > 0:
                self._confirm[cp.tree_size] = cp.last_hash

    def run(self, records: Iterable[Stored]) -> Iterator[Stored]:
        held: list[_Item] = []  # extend the chain, not yet confirmed
        sha256, ctx, link_end = hashlib.sha256, CHAIN_CONTEXT, PREV_HASH_SLICE.stop
        for position, stored in enumerate(records):
            data = stored.data
            if len(data) < _MIN_LEN or data[: len(HEADER)] != HEADER:
                self.foreign.append(Foreign(position, None, "not an audit_record.v1 message"))
                continue
            index = int.from_bytes(data[INDEX_SLICE], "big")
            item = _Item(position, stored, sha256(ctx + data).digest(), index)
            tip, nxt = (held[-1].hash, held[-1].index + 1) if held else self._head
            if data[:link_end] == HEADER + tip and item.index == nxt:
                held.append(item)
                if self._confirm.get(item.index + 1) == item.hash:  # a signed checkpoint vouches
                    yield from self._pass(held)
                    held = []
                elif len(held) >= _HELD_LIMIT:
                    yield from self._settle(held)
                    held = []
                continue
            if not self._sealed(item, held):
                self.foreign.append(Foreign(position, item.index, "not sealed by the audit writer"))
                continue
            yield from self._settle(held)  # the writer's record: anything held may be a forgery
            held = []
            yield from self._place(item)
        yield from self._settle(held)

    def _sealed(self, item: _Item, held: list[_Item]) -> bool:
        genesis = self.genesis
        if item.index == 0:
            genesis = item.hash
        elif genesis is None and held and held[0].index == 0:
            genesis = held[0].hash
        self.seals_checked += 1
        return genesis is not None and seal_verifies(item.stored.seal, genesis, item.hash, self.keys)

    def _settle(self, held: list[_Item]) -> Iterator[Stored]:
        """Seal-check held records in order; from the first that fails, all chain onto a forgery."""
        for k, item in enumerate(held):
            if not self._sealed(item, held):
                for bad in held[k:]:
                    self.foreign.append(Foreign(bad.position, bad.index, "not sealed by the audit writer"))
                return
            yield from self._pass([item])

    def _place(self, item: _Item) -> Iterator[Stored]:
        """A sealed record that does not extend the chain: a copy of one it holds is foreign; any
        other (a second writer's fork, a reordered or deleted neighbour) is for verify_log."""
        prefix = int.from_bytes(item.hash[:8], "big")
        if item.index < len(self._passed) and self._passed[item.index] == prefix:
            why = f"a copy of the writer's record {item.index}"
            self.foreign.append(Foreign(item.position, item.index, why))
            return
        yield from self._pass([item])

    def _pass(self, items: list[_Item]) -> Iterator[Stored]:
        passed = self._passed
        for item in items:
            if item.index == 0 and self.genesis is None:
                self.genesis = item.hash
            if len(passed) <= item.index <= len(passed) + _HELD_LIMIT:  # a far index: not worth the room
                passed.extend([0] * (item.index - len(passed) + 1))
            if item.index < len(passed):
                passed[item.index] = int.from_bytes(item.hash[:8], "big")
            self._head = (item.hash, item.index + 1)
            yield item.stored
