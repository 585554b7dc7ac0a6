"""Sequencing: 1, 2, 3 chained by hash, kept across restarts, never reused by concurrent senders."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import multiprocessing
from pathlib import Path

from producers.builder import build_envelope, sign_envelope
from producers.node_state import ChainPosition, NodeState, atomic_write
from schemas.canonical import signing_hash
from schemas.envelope import ZERO_HASH
from tests.node.conftest import NodePki
from tests.node.drafts import draft


async def _take(folder: Path, tag: str) -> tuple[int, bytes]:
    async with NodeState(folder, "G03.U001").reserve() as slot:
        await asyncio.sleep(0)  # let the other task try to get in while the lock is held
        digest = hashlib.sha256(f"{tag}{slot.sequence}".encode()).digest()
        slot.commit(digest, b"envelope " + tag.encode())
        return slot.sequence, slot.previous_hash


def test_sequence_chains_and_survives_restart(tmp_path: Path) -> None:
    taken = [asyncio.run(_take(tmp_path, "a")) for _ in range(3)]
    assert [s for s, _ in taken] == [1, 2, 3]
    assert taken[0][1] == ZERO_HASH
    assert taken[1][1] == hashlib.sha256(b"a1").digest() and taken[2][1] == hashlib.sha256(b"a2").digest()
    again = NodeState(tmp_path, "G03.U001")  # a new process reading the same folder
    assert again.read() == ChainPosition(3, hashlib.sha256(b"a3").digest())
    assert [s for s, _ in again.pending()] == [1, 2, 3]
    again.sent(2)
    assert [s for s, _ in again.pending()] == [1, 3]


def test_reservation_without_commit_uses_nothing(tmp_path: Path) -> None:
    async def abandon() -> int:
        async with NodeState(tmp_path, "H01").reserve() as slot:
            return slot.sequence

    assert asyncio.run(abandon()) == 1 and asyncio.run(abandon()) == 1


def test_concurrent_tasks_do_not_reuse_a_number(tmp_path: Path) -> None:
    async def many() -> list[tuple[int, bytes]]:
        return await asyncio.gather(*(_take(tmp_path, "t") for _ in range(20)))

    sequences = sorted(s for s, _ in asyncio.run(many()))
    assert sequences == list(range(1, 21))


def _worker(folder: str, count: int) -> None:
    for _ in range(count):
        asyncio.run(_take(Path(folder), "p"))


def test_concurrent_processes_do_not_reuse_a_number(tmp_path: Path) -> None:
    procs = [
        multiprocessing.get_context("spawn").Process(target=_worker, args=(str(tmp_path), 15))
        for _ in range(3)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    state = NodeState(tmp_path, "G03.U001")
    assert state.read().sequence == 45
    assert [s for s, _ in state.pending()] == list(range(1, 46))


def test_a_sender_cancelled_while_waiting_leaves_the_lock_usable(tmp_path: Path) -> None:
    async def scenario() -> int:
        state = NodeState(tmp_path, "G03.U001")
        async with state.reserve():
            waiter = asyncio.create_task(_take(tmp_path, "w"))
            await asyncio.sleep(0.05)  # a head start to block in its thread; the test holds either way
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
        async with asyncio.timeout(10):  # a leaked lock would block here for ever
            sequence, _ = await _take(tmp_path, "after")  # free again, and nothing was used up
        return sequence

    assert asyncio.run(scenario()) == 1


def test_a_crash_between_the_outbox_and_the_state_file_does_not_reuse_the_number(
    tmp_path: Path, node_pki: NodePki
) -> None:
    """``Reservation.commit`` writes ``outbox/<seq>.bin``, then the state file: killed in between,
    the node used to build sequence N again (REPLAY at the bus, then SEQUENCE_GAP for good). The
    outbox copy now counts as the position, and the state file is repaired from it."""
    identity = node_pki.identity("G03.U001")
    state = NodeState(tmp_path, "G03.U001")
    env, raw = sign_envelope(identity, build_envelope(identity, draft("1")))
    atomic_write(state.outbox / f"{1:020d}.bin", raw)  # the first write of commit, then the kill

    async def next_slot() -> tuple[int, bytes]:
        async with NodeState(tmp_path, "G03.U001").reserve() as slot:
            return slot.sequence, slot.previous_hash

    assert asyncio.run(next_slot()) == (2, signing_hash(env))
    state.sent(1, env.message_id)  # the pending copy published (a resend at the bus: its 01 again)
    assert state.read() == ChainPosition(1, signing_hash(env)) and asyncio.run(next_slot())[0] == 2
