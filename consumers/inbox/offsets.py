"""Inbox partitions and the committed positions of several consumer groups, through one Kafka client.

A process serving many org codes reads all their inbox topics with one consumer (manual
assignment), yet each code keeps its own group ``docbus-inbox-<code>``: its position is fetched from
and committed to that group (OffsetFetch / OffsetCommit with no generation, as any manually assigned
consumer of a group does), so a code moves between a shared process and one of its own without
re-reading anything. One client, one connection per coordinator, instead of a client per code.

A group with live members (the code served by another process right now) refuses the commit:
CommitFailedError, and this process stops rather than share the inbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka import TopicPartition
from aiokafka import errors as kafka_errors
from aiokafka.client import AIOKafkaClient, ConnectionGroup, CoordinationType
from aiokafka.protocol.commit import OffsetCommitRequest, OffsetFetchRequest

from schemas.connection import KafkaConnection

__all__ = ["GroupOffsets"]

_ATTEMPTS = 5  # a moving or loading coordinator is looked up again this many times
_COORDINATOR_MOVED = (
    kafka_errors.NotCoordinatorForGroupError,
    kafka_errors.GroupCoordinatorNotAvailableError,
    kafka_errors.GroupLoadInProgressError,
    kafka_errors.RequestTimedOutError,
    kafka_errors.KafkaConnectionError,
    kafka_errors.NodeNotReadyError,
)
_TAKEN = (
    kafka_errors.UnknownMemberIdError,
    kafka_errors.IllegalGenerationError,
    kafka_errors.RebalanceInProgressError,
)


class GroupOffsets:
    """``fetch(group, partitions)`` and ``commit(group, offsets)`` for any number of groups."""

    def __init__(self, kafka: KafkaConnection, *, client_id: str, options: Mapping[str, Any]) -> None:
        self._config = {**kafka.client_kwargs(), "client_id": client_id, **options}
        self._client: AIOKafkaClient | None = None
        self._coordinators: dict[str, int] = {}

    async def start(self) -> None:
        if self._client is None:  # made here: aiokafka binds to the running event loop
            client = AIOKafkaClient(**self._config)
            try:
                await client.bootstrap()
            except BaseException:
                await client.close()
                raise
            self._client = client

    async def stop(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            self._coordinators.clear()
            await client.close()

    async def partitions(self, topics: Iterable[str]) -> dict[str, list[int]]:
        """The partitions of each of ``topics`` that exists (one metadata request)."""
        if self._client is None:
            raise kafka_errors.KafkaError("GroupOffsets is not started")
        cluster = await self._client.fetch_all_metadata()
        out: dict[str, list[int]] = {}
        for topic in topics:
            numbers = cluster.partitions_for_topic(topic)
            if numbers:
                out[topic] = sorted(numbers)
        return out

    async def fetch(self, group: str, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """The committed next offset of each partition that has one in ``group``."""
        by_topic: dict[str, list[int]] = {}
        for tp in partitions:
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        if not by_topic:
            return {}
        response = await self._send(group, OffsetFetchRequest(group, list(by_topic.items())))
        _raise_for(getattr(response, "error_code", 0), group)
        out: dict[TopicPartition, int] = {}
        for topic, parts in response.topics:
            for partition, offset, _metadata, error_code in parts:
                _raise_for(error_code, group)
                if offset >= 0:
                    out[TopicPartition(topic, partition)] = offset
        return out

    async def commit(self, group: str, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit ``offsets`` (next offsets to read) to ``group``; CommitFailedError when the
        group has live members, another KafkaError when the broker refuses or is away."""
        if not offsets:
            return
        by_topic: dict[str, list[tuple[int, int, str]]] = {}
        for tp, offset in offsets.items():
            by_topic.setdefault(tp.topic, []).append((tp.partition, offset, ""))
        request = OffsetCommitRequest(
            group, OffsetCommitRequest.DEFAULT_GENERATION_ID, "", OffsetCommitRequest.DEFAULT_RETENTION_TIME,
            list(by_topic.items()),
        )  # fmt: skip
        response = await self._send(group, request)
        for _topic, parts in response.topics:
            for _partition, error_code in parts:
                try:
                    _raise_for(error_code, group)
                except _TAKEN as exc:
                    raise kafka_errors.CommitFailedError(
                        f"group {group} has live members: its inbox is served by another process"
                    ) from exc

    async def _send(self, group: str, request: Any) -> Any:
        if self._client is None:
            raise kafka_errors.KafkaError("GroupOffsets is not started")
        client = self._client
        for attempt in range(_ATTEMPTS):
            try:
                node = self._coordinators.get(group)
                if node is None:
                    node = await client.coordinator_lookup(CoordinationType.GROUP, group)
                    self._coordinators[group] = node
                response = await client.send(node, request, group=ConnectionGroup.COORDINATION)
                for _topic, parts in getattr(response, "topics", ()):
                    for part in parts:
                        _raise_for(part[-1], group, moved_only=True)
                _raise_for(getattr(response, "error_code", 0), group, moved_only=True)
                return response
            except _COORDINATOR_MOVED:
                self._coordinators.pop(group, None)
                if attempt == _ATTEMPTS - 1:
                    raise
                await client.force_metadata_update()
                await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")


def _raise_for(error_code: int, group: str, *, moved_only: bool = False) -> None:
    if not error_code:
        return
    error = kafka_errors.for_code(error_code)
    if moved_only and not issubclass(error, _COORDINATOR_MOVED):
        return
    raise error(f"group {group}")
