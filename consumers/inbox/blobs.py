"""The recipient's side of chunked payloads: reassemble, verify while streaming, store once.

Chunks stream from docbus.blobs into ``<store>/.partial/<sha256>``; each is checked against its
signed digest before it is written, the whole content after the last one, and only then is the
file renamed to ``<store>/blobs/<sha256>`` (so a file there is complete and verified). A receive
cut short resumes from the chunks the partial file holds (read back and checked, not fetched
again); a content already in ``blobs/`` is not fetched at all, whichever document it came with.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from producers.blob_reader import BlobReader
from producers.identity import EncryptionKey
from schemas.blob import BlobAssembly, chunk_length
from schemas.blob_crypto import certificate_fingerprint, unwrap_content_key, unwrap_document_key
from schemas.envelope import Envelope
from schemas.errors import ContractError
from schemas.payload import Payload
from schemas.reasons import Reason

__all__ = ["content_keys", "receive_blob"]


def content_keys(env: Envelope, recipient: str, key: EncryptionKey | None) -> dict[bytes, bytes]:
    """Blob id -> content key of every encrypted payload of ``env``, opened as ``recipient``."""
    if not env.sealed or env.keys is None:
        return {}
    if key is None:
        raise ContractError(Reason.KEY_MISSING, f"{recipient} holds no encryption key to open the payload")
    wrap = env.keys.wrap_for(recipient)
    if wrap is None:
        raise ContractError(Reason.KEY_MISSING, f"the envelope wraps no key for {recipient}")
    if bytes(wrap.certificate) != certificate_fingerprint(key.certificate):
        detail = f"the key for {recipient} is wrapped to another encryption certificate than this node's"
        raise ContractError(Reason.KEY_MISSING, detail)
    document_key = unwrap_document_key(
        wrap.key, key.key, env.keys.ephemeral, bytes(wrap.certificate), env.message_id, recipient
    )
    keys: dict[bytes, bytes] = {}
    for p in (env.payload, *env.attachments):
        if p.blob is not None and p.blob.sealed is not None:
            keys[bytes(p.blob.sealed.id)] = unwrap_content_key(document_key, p.blob.sealed.key)
    return keys


logger = logging.getLogger(__name__)


def _resume(part: Path, payload: Payload, asm: BlobAssembly) -> None:
    """Feed the complete chunks the partial file holds; cut it after the last good one."""
    assert payload.blob is not None
    chunk_size = payload.blob.chunk_size
    with part.open("r+b") as f:
        while not asm.done:
            want = chunk_length(payload.size, chunk_size, asm.next)
            data = f.read(want)
            if len(data) < want:
                break
            try:
                asm.resume(data)
            except ContractError:
                break
        f.truncate(asm.next * chunk_size)


async def receive_blob(
    reader: BlobReader, root: Path, payload: Payload, content_key: bytes | None = None
) -> Path:
    """The verified file of a chunked payload under ``root/blobs``; ContractError(BLOB_*) if its
    chunks are missing or wrong (a partial file keeps what was good, for a later attempt).
    ``content_key``: an encrypted payload's, from :func:`content_keys` (KEY_MISSING without)."""
    assert payload.blob is not None
    final = root / "blobs" / payload.sha256.hex()
    if final.is_file():
        return final  # stored once, for every document that carries it
    if payload.blob.sealed is not None and content_key is None:
        raise ContractError(Reason.KEY_MISSING, "an encrypted payload arrived without its content key")
    part = root / ".partial" / payload.sha256.hex()
    part.parent.mkdir(parents=True, exist_ok=True)
    final.parent.mkdir(parents=True, exist_ok=True)
    asm = BlobAssembly(payload.sha256, payload.size, payload.blob, content_key)
    if part.is_file():
        _resume(part, payload, asm)
        if asm.next:
            total = len(payload.blob.chunks)
            logger.info("resuming %s at chunk %d of %d", payload.file_name, asm.next, total)
    with part.open("ab") as f:
        async for raw in reader.records(payload.blob, start=asm.next):
            f.write(asm.accept(raw))
        f.flush()
        os.fsync(f.fileno())
    try:
        asm.finish()
    except ContractError:
        part.unlink()  # every chunk matched its digest yet the whole does not: nothing to keep
        raise
    os.replace(part, final)
    return final
