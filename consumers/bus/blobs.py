"""The Kafka shell of the attachment rules: check an encrypted envelope's key wraps against the
directory, fetch each chunked payload's records from docbus.blobs and hand them to the pure check
(consumers/bus/decide/attachments.py) before routing."""

from __future__ import annotations

import logging

from consumers.bus.decide.attachments import (
    attachment_refused,
    check_attachment,
    check_key_wraps,
    chunked_payloads,
    keys_refused,
)
from consumers.bus.decide.validator import Accepted, Decision
from producers.blob_reader import BlobReader
from schemas.connection import KafkaConnection
from schemas.directory_store import DirectoryStore
from schemas.errors import ContractError
from schemas.topics import BLOBS_TOPIC

__all__ = ["BlobCheck"]

logger = logging.getLogger(__name__)


class BlobCheck:
    def __init__(
        self, kafka: KafkaConnection, *, wait: float, directory: DirectoryStore, topic: str = BLOBS_TOPIC
    ) -> None:
        self.reader = BlobReader(kafka, topic=topic, wait=wait, client_id="docbus-bus-blobs")
        self.directory = directory  # the validator's: the snapshot each envelope names

    async def check(self, decision: Decision) -> Decision:
        """``decision`` itself, or a refusal when a key wrap is missing or a referenced chunk is
        missing or wrong."""
        payloads = chunked_payloads(decision)
        if payloads:
            assert isinstance(decision, Accepted)
            env = decision.envelope
            try:
                check_key_wraps(env, decision.plan.recipients, self.directory.get(env.directory_snapshot))
            except ContractError as exc:
                return keys_refused(decision, exc)
        for payload in payloads:
            assert isinstance(decision, Accepted) and payload.blob is not None
            try:
                await check_attachment(payload, self.reader.records(payload.blob))
            except ContractError as exc:
                return attachment_refused(decision, payload, exc)
            logger.info("%s: %d chunks verified", payload.file_name, len(payload.blob.chunks))
        return decision

    async def stop(self) -> None:
        await self.reader.stop()
