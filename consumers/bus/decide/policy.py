"""Replay, freshness and per-sender continuity: the acceptance state machine (docs/DIRECTORY.md).

Pure and sans-I/O: the validator keeps one :class:`SenderState` per chain — a (sender, channel)
pair, ``schemas.continuity.chain_id``, in a faust table partitioned like the ingress topic —, calls
:meth:`ReplayGuard.check_and_advance` only for an envelope whose signatures verified, and stores the
returned state. A rejection leaves the state unchanged (a refusal of an authenticated sender that
continues its chain is counted: :meth:`ReplayGuard.advance_chain`). Rules, in the order they are checked:

1. a message id among the sender's recently accepted ids is REPLAY;
2. ``created_at`` older than ``max_age`` or later than ``now + max_skew`` is STALE;
3. the first envelope of a sender has sequence 1 and a zero previous hash (with
   ``learn_first_sequence`` any first sequence is accepted and learnt — for a bus joining late);
4. then a sequence at or below the last accepted one is REPLAY, one beyond ``last + 1`` is
   SEQUENCE_GAP, and ``last + 1`` must carry the last accepted envelope's hash (else SEQUENCE_GAP).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.errors import DocbusError
from schemas.fields import to_millis
from schemas.reasons import Reason

__all__ = ["ZERO_HASH", "PolicyConfig", "PolicyError", "ReplayGuard", "SenderState", "check_and_advance"]

ZERO_HASH = bytes(32)
_STATE_VERSION = 1
_HEAD = struct.Struct(">BQ32sI")  # version, last sequence, last hash, id count
_ID = struct.Struct(">qH")  # created-at millis, id length; then the id's UTF-8 bytes


class PolicyError(DocbusError):
    """REPLAY, STALE or SEQUENCE_GAP, with a detail giving what was got and what was expected."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyConfig:
    max_age: timedelta = timedelta(hours=24)  # an envelope must reach the bus within a day
    max_skew: timedelta = timedelta(minutes=5)  # node clocks may run this far ahead
    # ids remembered per sender: belt and braces, the sequence rule already refuses any resent
    # envelope; this catches a sender reusing an id on a new envelope (inboxes dedupe by id)
    max_ids: int = 64
    learn_first_sequence: bool = False


@dataclass(frozen=True, slots=True)
class SenderState:
    """What the bus remembers of one sender; ``sequence == 0`` means nothing accepted yet. The
    recently accepted message ids, oldest first, and the created-at millis of each, as two tuples
    side by side: the replay check is one ``in`` over the ids, the horizon one ``min`` over the
    times (over one tuple of pairs each went through a getter per id: ~3 µs more per decision)."""

    sequence: int = 0
    last_hash: bytes = ZERO_HASH
    ids: tuple[str, ...] = ()
    created: tuple[int, ...] = ()  # created-at millis of each of ``ids``

    def __post_init__(self) -> None:
        if len(self.last_hash) != len(ZERO_HASH) or not 0 <= self.sequence < 2**63:
            raise ValueError("a sender state holds a 32-byte hash and a sequence in 0..2**63-1")
        if len(self.ids) != len(self.created):
            raise ValueError("a sender state holds one created-at time per recent id")

    def seen(self, message_id: str) -> bool:
        return message_id in self.ids

    def to_bytes(self) -> bytes:
        """Version byte, sequence (8), last hash (32), id count (4), then per id: millis (8),
        length (2), UTF-8 bytes. Big-endian throughout."""
        parts = [_HEAD.pack(_STATE_VERSION, self.sequence, self.last_hash, len(self.ids))]
        for mid, millis in zip(self.ids, self.created, strict=True):
            raw = mid.encode("utf-8")
            parts.append(_ID.pack(millis, len(raw)) + raw)
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> SenderState:
        """Raises ValueError for bytes that are not a stored state (a bug or corruption, not input)."""
        try:
            version, sequence, last_hash, count = _HEAD.unpack_from(data)
            if version != _STATE_VERSION:
                raise ValueError(f"sender state version {version} is not {_STATE_VERSION}")
            offset, ids, created = _HEAD.size, [], []
            for _ in range(count):
                millis, size = _ID.unpack_from(data, offset)
                offset += _ID.size + size
                if offset > len(data):
                    raise ValueError("truncated id")
                ids.append(data[offset - size : offset].decode("utf-8"))
                created.append(millis)
        except (struct.error, UnicodeDecodeError) as exc:
            raise ValueError(f"corrupt sender state: {exc}") from exc
        if offset != len(data):
            raise ValueError(f"{len(data) - offset} trailing bytes after the sender state")
        return cls(sequence, last_hash, tuple(ids), tuple(created))


class ReplayGuard:
    """Applies the acceptance rules of this module under one :class:`PolicyConfig`."""

    def __init__(self, config: PolicyConfig | None = None) -> None:
        self.config = config or PolicyConfig()
        # ids created before ``now - kept`` would be STALE anyway: they are dropped
        self._kept = self.config.max_age + self.config.max_skew

    def check_fresh(self, created_at: datetime, now: datetime) -> None:
        age = now - created_at
        if age > self.config.max_age:
            raise PolicyError(Reason.STALE, f"created {age} ago, more than {self.config.max_age}")
        if -age > self.config.max_skew:
            raise PolicyError(Reason.STALE, f"created {-age} in the future, more than {self.config.max_skew}")

    def check_and_advance(
        self,
        state: SenderState,
        *,
        message_id: str,
        sequence: int,
        prev_hash: bytes,
        signing_hash: bytes,
        created_at: datetime,
        now: datetime,
        freshness_judged: bool = False,
    ) -> SenderState:
        """The state after accepting this envelope, or PolicyError (``state`` stays valid).
        ``freshness_judged``: the caller already judged ``created_at`` at ``now`` under these windows (the
        validator's ``fresh`` rule, rules.AcceptanceConfig built from this guard's config)."""
        if state.seen(message_id):
            raise PolicyError(Reason.REPLAY, f"message id {message_id} already accepted")
        if not freshness_judged:
            self.check_fresh(created_at, now)
        self._check_sequence(state, sequence, bytes(prev_hash))
        # older ids would be STALE anyway; the count bound keeps the state small
        ids, created = self._within(state, now)
        keep = -self.config.max_ids
        ids, created = (*ids, message_id)[keep:], (*created, to_millis(created_at))[keep:]
        return SenderState(sequence, bytes(signing_hash), ids, created)

    def advance_chain(
        self,
        state: SenderState,
        *,
        message_id: str,
        sequence: int,
        prev_hash: bytes,
        envelope_hash: bytes,
        created_at: datetime,
        now: datetime,
    ) -> SenderState:
        """The state after a *refused* envelope of an authenticated sender that continues its chain
        (PolicyError if it does not): the node used the number, so the chain counts it, whatever
        the refusal — freshness included — or the sender's next envelope would be a gap for good."""
        if state.seen(message_id):
            raise PolicyError(Reason.REPLAY, f"message id {message_id} already accepted")
        self._check_sequence(state, sequence, bytes(prev_hash))
        ids, created = self._within(state, now)
        keep = -self.config.max_ids
        return SenderState(sequence, bytes(envelope_hash), ids[keep:], created[keep:])

    def _within(self, state: SenderState, now: datetime) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """The ids of ``state`` (and their times) created at or after ``now - kept``, in order."""
        created = state.created
        horizon = to_millis(now - self._kept)
        if not created or min(created) >= horizon:  # the usual case, decided in C
            return state.ids, created
        kept = [i for i, millis in enumerate(created) if millis >= horizon]
        return tuple(state.ids[i] for i in kept), tuple(created[i] for i in kept)

    def _check_sequence(self, state: SenderState, sequence: int, prev_hash: bytes) -> None:
        if sequence < 1:
            raise PolicyError(Reason.SEQUENCE_GAP, f"sequence {sequence} < 1")
        if sequence == 1 and prev_hash != ZERO_HASH:
            raise PolicyError(Reason.SEQUENCE_GAP, "sequence 1 must carry a zero previous hash")
        if state.sequence == 0:
            if sequence == 1 or (self.config.learn_first_sequence and prev_hash != ZERO_HASH):
                return
            detail = f"the first envelope of a sender has sequence 1, not {sequence}"
            raise PolicyError(Reason.SEQUENCE_GAP, detail)
        if sequence <= state.sequence:
            raise PolicyError(Reason.REPLAY, f"sequence {sequence} <= last accepted {state.sequence}")
        if sequence > state.sequence + 1:
            missing = f"{state.sequence + 1}..{sequence - 1}"
            raise PolicyError(Reason.SEQUENCE_GAP, f"sequence {sequence} skips {missing}")
        if prev_hash != state.last_hash:
            got, expected = prev_hash.hex()[:16], state.last_hash.hex()[:16]
            detail = f"previous hash {got} is not that of envelope {state.sequence} ({expected})"
            raise PolicyError(Reason.SEQUENCE_GAP, detail)


_DEFAULT = ReplayGuard()


def check_and_advance(
    state: SenderState,
    *,
    message_id: str,
    sequence: int,
    prev_hash: bytes,
    signing_hash: bytes,
    created_at: datetime,
    now: datetime,
) -> SenderState:
    """:meth:`ReplayGuard.check_and_advance` under the default :class:`PolicyConfig`."""
    return _DEFAULT.check_and_advance(
        state,
        message_id=message_id,
        sequence=sequence,
        prev_hash=prev_hash,
        signing_hash=signing_hash,
        created_at=created_at,
        now=now,
    )
