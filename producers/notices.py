"""The bus's sealed notices in a sender's own inbox, and the one rule of which say "not counted".

A 01 or 02 notice (a ``Receipt`` sealed by the bus org, ``G03.BUS``) states the channel's position
as the bus holds it after deciding that envelope (``Receipt.chain``, docs/adr/0003-continuity.md).
A 02 ``SEQUENCE_GAP`` or ``REPLAY`` whose position is not the refused envelope's says the bus did
not count it: the node numbered from a place the bus does not hold (:func:`uncounted`).

:class:`NoticeCursor` reads the inbox from where the channel's last send left it to its end, so a
send that did not wait for its notice (``docbus send --no-wait``, an asynchronous gateway submit)
still learns of its refusal at the channel's next send. Its position is kept in the state folder
(``<chain>.notices.json``); without one it starts at the inbox's end.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime

from aiokafka import TopicPartition

from producers.node_state import NodeState, atomic_write
from producers.ports import SealVerifier
from producers.reader import Positions, end_offsets, records_from
from schemas.canonical import receipt_signing_input, signing_hash
from schemas.codec import decode
from schemas.connection import KafkaConnection
from schemas.envelope import Envelope
from schemas.errors import ContractError, TrustError
from schemas.reasons import Reason
from schemas.receipt import Receipt, StatusCode, parse_receipt

__all__ = ["BUS_ORG", "NoticeCursor", "bus_notice", "current_copy", "may_be_uncounted", "uncounted"]

logger = logging.getLogger(__name__)

BUS_ORG = "G03.BUS"
_NOTICES = (StatusCode.ARRIVED, StatusCode.REJECTED)
# a 02 of these codes says the bus did not count the envelope in the channel: the node numbered from
# a position the bus does not hold (a state folder lost or restored from an old backup)
_UNCOUNTED = frozenset({Reason.SEQUENCE_GAP.value, Reason.REPLAY.value})
_READ_BATCH = 200  # records per fetch: the inbox holds whole documents too


def bus_notice(raw: bytes | None, policy: SealVerifier | None, bus_org: str = BUS_ORG) -> Receipt | None:
    """``raw`` as a 01/02 notice of the bus whose seal verifies under ``policy`` (None: not checked,
    tests only), else None (an envelope, a recipient's receipt, a forgery)."""
    if raw is None:
        return None
    try:
        receipt = parse_receipt(raw)
    except ContractError:
        return None  # an envelope or a recipient's receipt: the inbox client's business
    if receipt.from_org != bus_org or receipt.status not in _NOTICES:
        return None
    if policy is not None:
        try:
            policy.verify_seal(receipt_signing_input(receipt), receipt.signatures, bus_org, datetime.now(UTC))
        except TrustError as exc:
            logger.warning("notice %s ignored: %s", receipt.message_id, exc)
            return None
    return receipt


def may_be_uncounted(reason: str, envelope_id: str) -> bool:
    """A refusal's reason that can say the bus did not count the envelope: SEQUENCE_GAP, or REPLAY
    but not of a message id already delivered (signing that id again would be refused the same
    way). :func:`uncounted` decides with the sealed position."""
    code = reason.split(":", 1)[0].strip()
    return code in _UNCOUNTED and f"message id {envelope_id} already" not in reason


def uncounted(notice: Receipt, channel: str) -> bool:
    """The notice refuses an envelope of ``channel`` that the bus did not count: a 02
    SEQUENCE_GAP/REPLAY stating a position that is not that envelope's. A REPLAY of a message id
    already delivered is not one (signing that id again would be refused the same way)."""
    chain = notice.chain
    if notice.status is not StatusCode.REJECTED or chain is None or chain.channel != channel:
        return False
    if not may_be_uncounted(notice.reason, notice.envelope_id):
        return False
    return bytes(chain.signing_hash) != bytes(notice.signing_hash)  # else: counted after all


def current_copy(state: NodeState, notice: Receipt) -> Envelope | None:
    """The envelope the node holds under the notice's message id when it is still the one the
    notice answers (not signed again since), else None."""
    raw = state.sent_envelope(notice.envelope_id)
    if raw is None:
        return None
    env = decode(raw, Envelope)
    return env if signing_hash(env) == bytes(notice.signing_hash) else None


class NoticeCursor:
    """The bus's sealed notices in ``topic`` (the org's inbox) since the last :meth:`save`."""

    def __init__(
        self, kafka: KafkaConnection, topic: str, state: NodeState, policy: SealVerifier | None
    ) -> None:
        self.kafka, self.topic, self.policy = kafka, topic, policy
        self.path = state.folder / f"{state.stem}.notices.json"
        self._next: Positions = {}

    def _load(self, parts: list[TopicPartition]) -> Positions | None:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return {tp: int(doc.get(str(tp.partition), 0)) for tp in parts}

    async def notices(self) -> AsyncIterator[Receipt]:
        """The sealed notices after the saved position, up to the inbox's end (none the first time:
        the cursor then starts at the end). ReadError when the inbox cannot be read."""
        ends = await end_offsets(self.kafka, [self.topic])
        start = self._load(list(ends))
        self._next = dict(ends) if start is None else dict(start)
        if start is None or all(start[tp] >= ends[tp] for tp in ends):
            self._next = {tp: max(self._next[tp], ends[tp]) for tp in ends}
            return  # no position yet (from now on), or nothing new
        by_number = {tp.partition: tp for tp in ends}
        records = records_from(self.kafka, self.topic, start, batch=_READ_BATCH)
        async with aclosing(records) as stream:
            async for record in stream:
                self._next[by_number[record.partition]] = record.offset + 1
                notice = bus_notice(record.value, self.policy)
                if notice is not None:
                    yield notice
        self._next = {tp: max(self._next[tp], ends[tp]) for tp in ends}  # read to the end

    def save(self) -> None:
        """Keep the position reached, so the next send reads only what came after it."""
        doc = {str(tp.partition): offset for tp, offset in self._next.items()}
        atomic_write(self.path, json.dumps(doc).encode())
