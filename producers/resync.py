"""Resync a node's channel from the bus's sealed notices (docs/adr/0003-continuity.md).

Every 01 and 02 the bus sends an authenticated sender states the channel's position as the bus
holds it after that envelope (``Receipt.chain``, sealed). The newest such notice in the org's inbox
is therefore a signed statement of where the chain stands; a node whose state folder was lost or
restored from an old backup takes it over. :func:`resync` is what ``docbus node resync`` runs; a
send that waits for its notice does the same by itself when the bus answers that it did not count
the envelope (producers/send.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime

from producers.node_state import ChainPosition, NodeState
from producers.notices import BUS_ORG, bus_notice
from producers.ports import SealVerifier
from producers.reader import ReadError, records_to_end
from schemas.connection import KafkaConnection
from schemas.continuity import Chain
from schemas.receipt import Receipt
from schemas.topics import inbox_topic

__all__ = ["ResyncReport", "newest_position", "read_positions", "resync"]


@dataclass(frozen=True, slots=True)
class ResyncReport:
    org: str
    channel: str
    local: ChainPosition  # what the state folder held
    bus: Chain | None  # the newest sealed position found
    notice_id: str | None
    notice_at: datetime | None
    adopted: bool
    pending: int  # outbox envelopes the next send publishes first

    def explain(self) -> str:
        name = self.channel or "(default)"
        local = f"sequence {self.local.sequence}, last hash {self.local.last_hash.hex()[:16]}"
        lines = [f"org {self.org}, channel {name}", f"  state folder: {local}"]
        if self.bus is None:
            lines.append("  bus: no sealed notice of this channel in the inbox; nothing changed")
            return "\n".join(lines)
        at = self.notice_at.isoformat() if self.notice_at else "?"
        bus = f"sequence {self.bus.sequence}, last hash {bytes(self.bus.signing_hash).hex()[:16]}"
        lines.append(f"  bus: {bus} (notice {self.notice_id}, sealed by {BUS_ORG} at {at})")
        if self.adopted:
            nxt = self.bus.sequence + 1
            lines.append(f"  adopted the bus's position: the next envelope is sequence {nxt}")
        elif self.local.sequence > self.bus.sequence:
            ahead = self.local.sequence - self.bus.sequence
            lines.append(
                f"  the node is {ahead} ahead of the newest notice: envelopes not yet decided by the bus "
                "(or their notices not yet read); kept as is — a send that waits resyncs by itself if "
                "the bus did not count them"
            )
        else:
            lines.append("  in sync: nothing changed")
        if self.pending:
            lines.append(f"  {self.pending} envelope(s) in the outbox: published first by the next send")
        return "\n".join(lines)


def newest_position(notices: Iterable[Receipt], channel: str) -> Receipt | None:
    """The notice stating the furthest position of ``channel`` (a chain only ever moves forward)."""
    best: Receipt | None = None
    for notice in notices:
        chain = notice.chain
        if chain is None or chain.channel != channel:
            continue
        if best is None or best.chain is None or (chain.sequence, notice.at) > (best.chain.sequence, best.at):
            best = notice  # fmt: skip
    return best


_READ_BATCH = 200  # records per fetch: an inbox holds whole documents, so memory stays bounded


async def read_positions(
    kafka: KafkaConnection, org: str, policy: SealVerifier | None, *, timeout: float = 30.0
) -> list[Receipt]:
    """The newest of the bus's notices in ``org``'s inbox whose seal verifies, one per channel.
    The inbox is streamed (it holds every document the org received), never held in memory.
    ReadError when it is not read to its end within ``timeout`` seconds."""
    topic = inbox_topic(org)
    newest: dict[str, Receipt] = {}
    try:
        async with (
            asyncio.timeout(timeout),
            aclosing(records_to_end(kafka, topic, batch=_READ_BATCH)) as records,
        ):
            async for record in records:
                notice = bus_notice(record.value, policy)
                if notice is None or notice.chain is None:
                    continue
                held = newest.get(notice.chain.channel)
                newest[notice.chain.channel] = (
                    newest_position([n for n in (held, notice) if n], notice.chain.channel) or notice
                )
    except TimeoutError as exc:
        raise ReadError(f"{topic}: not read to its end within {timeout:g} s") from exc
    return list(newest.values())


async def resync(state: NodeState, notices: Iterable[Receipt]) -> ResyncReport:
    """Adopt the newest sealed position of ``state``'s channel when the bus is further than the
    state folder, or holds another envelope at its sequence (a fork: the folder was restored and
    the node numbered again); a node ahead of the newest notice is left as it is."""
    newest = newest_position(notices, state.channel)
    async with state.reserve():
        local = state.position()
        pending = len(state.pending())
        adopted = False
        if newest is not None and newest.chain is not None:
            bus = newest.chain
            forked = bus.sequence == local.sequence and bytes(bus.signing_hash) != local.last_hash
            if bus.sequence > local.sequence or forked:
                adopted = state.adopt(bus, local)
    if newest is None:
        return ResyncReport(state.org_code, state.channel, local, None, None, None, adopted, pending)
    return ResyncReport(
        state.org_code, state.channel, local, newest.chain, newest.message_id, newest.at, adopted, pending
    )
