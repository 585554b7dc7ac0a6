"""The bus refuses, with its own reason and a sealed 02 notice, an envelope whose chunks are
missing (after the bounded wait), forged, or claim the content's digest with another size."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from docbus.pki_folder import TrustFiles
from producers.builder import DocumentDraft
from producers.publisher import Publisher, acknowledged
from producers.send import Sender
from schemas.blob import BlobRef, ChunkRef, chunk_key, encode_chunk
from schemas.connection import KafkaConnection
from schemas.document import DocumentType
from schemas.payload import Payload
from schemas.topics import BLOBS_TOPIC
from tests.blobs.conftest import BlobBus

pytestmark = pytest.mark.broker
CHUNK = 4096
CONTENT = os.urandom(2 * CHUNK + 100)
DIGEST = hashlib.sha256(CONTENT).digest()
PIECES = [CONTENT[i : i + CHUNK] for i in range(0, len(CONTENT), CHUNK)]


async def _produce(kafka: KafkaConnection, records: list[bytes]) -> list[int]:
    async with Publisher(kafka) as pub:
        futs = [await pub.enqueue(BLOBS_TOPIC, chunk_key(DIGEST), r, partition=0) for r in records]
        return [(await acknowledged(f)).offset for f in futs]


def _payload(offsets: list[int]) -> Payload:
    refs = [
        ChunkRef(sha256=hashlib.sha256(p).digest(), offset=o) for p, o in zip(PIECES, offsets, strict=True)
    ]
    blob = BlobRef(chunk_size=CHUNK, partition=0, chunks=refs)
    return Payload(file_name="phu-luc.pdf", content_type="application/pdf", size=len(CONTENT), sha256=DIGEST,
                   data=b"", blob=blob)  # fmt: skip


async def _outcome(b: BlobBus, kafka: KafkaConnection, org: str, payload: Payload, state: Path) -> str:
    draft = DocumentDraft(document_type=DocumentType.CONG_VAN, code_number="7", code_notation="SGD-VP",
                          subject="V/v phụ lục", payload=payload, recipients=["G03.U002"])  # fmt: skip
    async with Sender(b.world.identities[org], kafka, state, policy=TrustFiles(b.world.pki).policy) as sender:
        result = await sender.send(draft, wait=60, directory_snapshot=b.world.snapshot)
    assert result.outcome is not None, b.bus.log.read_text()[-3000:]
    assert not result.outcome.accepted
    return result.outcome.reason


async def test_missing_forged_and_resized_chunks_are_refused(
    kafka_conn: KafkaConnection, blob_bus: BlobBus, tmp_path: Path
) -> None:
    good = [encode_chunk(DIGEST, len(CONTENT), i, p) for i, p in enumerate(PIECES)]
    first = await _produce(kafka_conn, good[:2])
    missing = _payload([*first, first[-1] + 100_000])  # the last chunk never arrives
    reason = await _outcome(blob_bus, kafka_conn, "H01", missing, tmp_path / "h01")
    assert reason.startswith("BLOB_INCOMPLETE"), reason

    forged = encode_chunk(DIGEST, len(CONTENT), 1, os.urandom(CHUNK))  # self-consistent, not the signed one
    offsets = await _produce(kafka_conn, [good[0], forged, good[2]])
    reason = await _outcome(blob_bus, kafka_conn, "H02", _payload(offsets), tmp_path / "h02")
    assert reason.startswith("BLOB_MISMATCH"), reason

    resized = [encode_chunk(DIGEST, len(CONTENT) + 1, i, p) for i, p in enumerate(PIECES)]
    offsets = await _produce(kafka_conn, resized)  # claims the digest with another size
    reason = await _outcome(blob_bus, kafka_conn, "H04", _payload(offsets), tmp_path / "h04")
    assert reason.startswith("BLOB_MISMATCH") and "claims size" in reason, reason


async def test_an_encrypted_payload_reaching_a_recipient_without_a_key_wrap_is_refused(
    kafka_conn: KafkaConnection, blob_bus: BlobBus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sender (a third-party product, say) that forgets one recipient's key wrap: the bus refuses
    KEY_MISSING before routing, so no recipient gets a document it cannot open (ENVELOPE.md §7.4)."""
    import producers.send
    from producers.blob_keys import seal_envelope
    from schemas.envelope import Envelope

    def forgetful(env: Envelope, *args: object) -> Envelope:
        sealed = seal_envelope(env, *args)  # type: ignore[arg-type]
        assert sealed.keys is not None
        wraps = [w for w in sealed.keys.wraps if w.recipient != "H03"]
        keys = sealed.keys.model_copy(update={"wraps": wraps})
        return sealed.model_copy(update={"keys": keys})

    monkeypatch.setattr(producers.send, "seal_envelope", forgetful)
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(os.urandom(3 * CHUNK + 5))
    async with Sender(blob_bus.world.identities["H01"], kafka_conn, tmp_path / "h01", chunk_size=CHUNK,
                      inline_max=CHUNK, policy=TrustFiles(blob_bus.world.pki).policy) as sender:  # fmt: skip
        payload = await sender.attach(scan, "application/pdf")
        assert payload.blob is not None and payload.blob.sealed is not None
        draft = DocumentDraft(document_type=DocumentType.CONG_VAN, code_number="8", code_notation="SGD-VP",
                              subject="V/v", payload=payload, recipients=["G03.U002", "H03"])  # fmt: skip
        result = await sender.send(draft, wait=60, directory_snapshot=blob_bus.world.snapshot)
    assert result.outcome is not None, blob_bus.bus.log.read_text()[-3000:]
    reason = result.outcome.reason
    assert not result.outcome.accepted and reason.startswith("KEY_MISSING") and "H03" in reason, reason
