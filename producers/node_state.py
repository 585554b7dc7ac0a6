"""The sender's chain position: its last sequence and envelope hash, kept in the node's state folder.

The bus accepts a sender's envelopes only in order (``sequence = last + 1`` carrying the last
envelope's hash, consumers/bus/decide/policy.py), so a node numbers, signs and publishes while holding an
exclusive file lock: two senders of one org (processes or tasks) never reuse a number, and their
envelopes reach the partition in sequence order. The position is advanced, together with a copy
of the envelope in ``outbox/``, *before* publishing; the copy is removed once the broker has
acknowledged it. A crash in between leaves the exact bytes to publish again (``pending``), so the
chain never breaks.

Each sending product of an org numbers in its own **channel** (schemas/continuity.py): one chain,
one state file, one lock, one outbox per channel, so the CLI and an e-office system of one org never
draw from the same sequence. The bus states a channel's position, sealed, in every notice it sends;
:meth:`NodeState.adopt` takes it over when the folder was lost or restored from an old backup
(docs/adr/0003-continuity.md).

Files, with ``<chain>`` = ``<org>`` for the default channel and ``<org>+<channel>`` otherwise:
``<folder>/<chain>.state.json`` (atomic replace), ``<chain>.lock``, ``outbox/<chain>/<seq>.bin``,
``sent/<org>/<message id>.bin``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from producers.faults import crash_point
from schemas.canonical import signing_hash
from schemas.codec import decode
from schemas.continuity import DEFAULT_CHANNEL, Chain, validate_channel
from schemas.envelope import ZERO_HASH, Envelope
from schemas.orgcode import canonical_org_code

__all__ = ["ChainPosition", "NodeState", "Reservation", "atomic_write"]


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@dataclass(frozen=True, slots=True)
class ChainPosition:
    sequence: int = 0  # 0: nothing sent yet
    last_hash: bytes = ZERO_HASH


@dataclass
class Reservation:
    """The next number and the hash to chain to, valid while the lock is held."""

    state: NodeState
    sequence: int
    previous_hash: bytes

    def commit(self, signing_hash: bytes, raw: bytes) -> Path:
        """Advance the position to this envelope and keep its bytes until :meth:`NodeState.sent`."""
        outbox = self.state.outbox / f"{self.sequence:020d}.bin"
        atomic_write(outbox, raw)
        crash_point("commit.outbox")
        self.state.write(ChainPosition(self.sequence, signing_hash))
        crash_point("commit.state")
        return outbox


class NodeState:
    def __init__(self, folder: Path, org_code: str, channel: str = DEFAULT_CHANNEL) -> None:
        self.folder = Path(folder)
        self.org_code = canonical_org_code(org_code)
        self.channel = validate_channel(channel)
        stem = self.org_code if channel == DEFAULT_CHANNEL else f"{self.org_code}+{channel}"
        self.path = self.folder / f"{stem}.state.json"
        self.outbox = self.folder / "outbox" / stem
        self.sent_dir = self.folder / "sent" / self.org_code
        self._lock_path = self.folder / f"{stem}.lock"
        self._adopted_path = self.folder / f"{stem}.adopted"  # when the bus's position was last taken
        self.stem = stem  # <org> or <org>+<channel>: the channel's files are named after it

    def read(self) -> ChainPosition:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return ChainPosition()
        return ChainPosition(int(doc["sequence"]), bytes.fromhex(doc["last_hash"]))

    def position(self) -> ChainPosition:
        """The chain position: the state file, or the newest envelope of the outbox when it is
        further — a crash between writing ``outbox/<seq>.bin`` and the state file must not make the
        node number that sequence again (the bus would hold one envelope N, the node another)."""
        position = self.read()
        pending = self.pending()
        if pending and pending[-1][0] > position.sequence:
            sequence, raw = pending[-1]
            position = ChainPosition(sequence, signing_hash(decode(raw, Envelope)))
            self.write(position)  # repaired: the outbox copy may be published and moved next
        return position

    def write(self, position: ChainPosition) -> None:
        doc = {
            "org": self.org_code,
            "channel": self.channel,
            "sequence": position.sequence,
            "last_hash": position.last_hash.hex(),
            "updated_at": datetime.now(UTC).isoformat(),
        }
        atomic_write(self.path, json.dumps(doc, indent=2).encode())

    @contextlib.asynccontextmanager
    async def reserve(self) -> AsyncIterator[Reservation]:
        """Hold the org's lock; yield the next position. Without a commit nothing is used up."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        # a thread waits for the lock, so other tasks of this event loop keep running
        waiting = asyncio.get_running_loop().run_in_executor(None, fcntl.flock, fd, fcntl.LOCK_EX)
        try:
            await asyncio.shield(waiting)
        except BaseException:
            # cancelled while the thread still uses ``fd``: close it only after the thread is done,
            # or the number could be reused and the thread would lock some other file
            waiting.add_done_callback(lambda _: os.close(fd))
            raise
        try:
            position = self.position()
            yield Reservation(self, position.sequence + 1, position.last_hash)
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def adopt(self, chain: Chain, local: ChainPosition) -> bool:
        """Take over the bus's position of this channel (from a notice whose seal verified; call
        with the lock held) when it differs from ``local``, the position the node numbered from.
        Returns whether anything changed."""
        if chain.channel != self.channel:
            raise ValueError(f"a position of channel {chain.channel!r}, not {self.channel!r}")
        bus = ChainPosition(chain.sequence, bytes(chain.signing_hash))
        if bus == local:
            return False
        # written first: an envelope created after this instant numbers from the adopted position
        now = datetime.now(UTC)
        atomic_write(
            self._adopted_path, now.replace(microsecond=now.microsecond // 1000 * 1000).isoformat().encode()
        )
        self.write(bus)
        crash_point("resync.adopted")
        return True

    def adopted_at(self) -> datetime | None:
        """When the bus's position was last adopted (to the millisecond, like ``created_at``): an
        envelope created before it was numbered from the position given up then."""
        try:
            return datetime.fromisoformat(self._adopted_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def sent(self, sequence: int, message_id: str | None = None) -> None:
        """The broker acknowledged envelope ``sequence``: out of the outbox, kept under ``sent/``
        by message id when given (the sender needs it later, e.g. to request a recall)."""
        path = self.outbox / f"{sequence:020d}.bin"
        with contextlib.suppress(FileNotFoundError):
            if message_id is None:
                path.unlink()
            else:
                self.sent_dir.mkdir(parents=True, exist_ok=True)
                os.replace(path, self.sent_dir / f"{message_id}.bin")

    def mark_signed_elsewhere(self, message_id: str) -> None:
        """The envelope ``message_id`` was signed outside this node (an official's token): the node
        never signs it again itself (docs/adr/0003-continuity.md)."""
        self.sent_dir.mkdir(parents=True, exist_ok=True)
        (self.sent_dir / f"{message_id}.elsewhere").touch()

    def signed_elsewhere(self, message_id: str) -> bool:
        return (self.sent_dir / f"{message_id}.elsewhere").exists()

    def sent_envelope(self, message_id: str) -> bytes | None:
        try:
            return (self.sent_dir / f"{message_id}.bin").read_bytes()
        except FileNotFoundError:
            return None

    def pending(self) -> list[tuple[int, bytes]]:
        """Envelopes committed but not acknowledged (a crash or a failed publish), oldest first."""
        if not self.outbox.is_dir():
            return []
        return [(int(p.stem), p.read_bytes()) for p in sorted(self.outbox.glob("*.bin"))]
