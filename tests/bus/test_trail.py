"""Commits that trail the batches (consumers/bus/agents/trail.py): a hung commit holds no storing
until a batch's records wait behind it, commits never overtake each other and take every batch
stored meanwhile, and a failed commit is raised where the agent waits."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from consumers.bus.agents.trail import Trail


class Coordinator:
    """A group coordinator that answers a commit only when told to."""

    def __init__(self) -> None:
        self.commits: list[tuple[list[Any], list[Any]]] = []
        self.answer: asyncio.Queue[Exception | None] = asyncio.Queue()
        self.asked: asyncio.Queue[None] = asyncio.Queue()  # one item per commit asked for

    async def commit(self, events: Sequence[Any], again: Sequence[Any]) -> None:
        self.commits.append((list(events), list(again)))
        self.asked.put_nowait(None)
        failure = await self.answer.get()
        if failure is not None:
            raise failure


async def test_a_hung_commit_holds_no_batch_until_one_batch_waits_behind_it() -> None:
    coordinator = Coordinator()
    trail = Trail()
    trail.add(coordinator.commit, [1, 2], [])
    await coordinator.asked.get()  # the first commit is on its way and hangs
    await asyncio.wait_for(trail.within(3), 1)  # 2 records waiting: the next batch may be stored
    trail.add(coordinator.commit, [3, 4], ["again"])
    trail.add(coordinator.commit, [5], [])
    assert trail.held == 5
    waiting = asyncio.ensure_future(trail.within(3))
    await asyncio.sleep(0)
    assert not waiting.done()  # 5 > 3: the agent waits for the commits
    coordinator.answer.put_nowait(None)  # the coordinator answers the first
    await asyncio.wait_for(coordinator.asked.get(), 1)
    # the batches stored meanwhile go in one commit, after the first
    assert coordinator.commits == [([1, 2], []), ([3, 4, 5], ["again"])]
    assert not waiting.done()
    coordinator.answer.put_nowait(None)
    await asyncio.wait_for(waiting, 1)
    assert trail.held == 0


async def test_a_failed_commit_is_raised_where_the_agent_waits_and_not_passed_over() -> None:
    coordinator = Coordinator()
    trail = Trail()
    trail.add(coordinator.commit, [1], [])
    await coordinator.asked.get()
    coordinator.answer.put_nowait(RuntimeError("commit failed"))
    with pytest.raises(RuntimeError, match="commit failed"):
        await asyncio.wait_for(trail.within(0), 1)
    trail.add(coordinator.commit, [2], [])  # a later batch does not hide the failure
    assert len(coordinator.commits) == 1
    with pytest.raises(RuntimeError, match="commit failed"):
        await trail.within(10)


async def test_an_agent_cancelled_while_waiting_leaves_the_commit_to_finish() -> None:
    coordinator = Coordinator()
    trail = Trail()
    trail.add(coordinator.commit, [1, 2], [])
    await coordinator.asked.get()
    waiting = asyncio.ensure_future(trail.within(0))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    coordinator.answer.put_nowait(None)
    await asyncio.wait_for(trail.within(0), 1)
    assert trail.held == 0
    assert coordinator.commits == [([1, 2], [])]
