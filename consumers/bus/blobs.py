"""The Kafka shell of the attachment rule: fetch each chunked payload's records from docbus.blobs
and hand them to the pure check (consumers/bus/decide/attachments.py) before routing."""

from __future__ import annotations

import logging

from consumers.bus.decide.attachments import attachment_refused, check_attachment, chunked_payloads
from consumers.bus.decide.validator import Accepted, Decision
from producers.blob_reader import BlobReader
from schemas.connection import KafkaConnection
from schemas.errors import ContractError
from schemas.topics import BLOBS_TOPIC

__all__ = ["BlobCheck"]

logger = logging.getLogger(__name__)


class BlobCheck:
    def __init__(self, kafka: KafkaConnection, *, wait: float, topic: str = BLOBS_TOPIC) -> None:
        self.reader = BlobReader(kafka, topic=topic, wait=wait, client_id="docbus-bus-blobs")

    async def check(self, decision: Decision) -> Decision:
        """``decision`` itself, or a refusal when a referenced chunk is missing or wrong."""
        for payload in chunked_payloads(decision):
            assert isinstance(decision, Accepted) and payload.blob is not None
            try:
                await check_attachment(payload, self.reader.records(payload.blob))
            except ContractError as exc:
                return attachment_refused(decision, payload, exc)
            logger.info("%s: %d chunks verified", payload.file_name, len(payload.blob.chunks))
        return decision

    async def stop(self) -> None:
        await self.reader.stop()
