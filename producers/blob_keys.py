"""The sender's half of encrypted payloads: wrap their keys to the recipients (docs/ENVELOPE.md §7.4).

Before signing, an envelope whose chunks were encrypted (``SealedBlob`` with an empty key) gets a
fresh document key ``D``: each payload's content key is wrapped under ``D``, and ``D`` is wrapped to
every organisation the bus will route a copy to, resolved against the snapshot the envelope names
by the bus's own rule (:func:`schemas.routing.route`: groups, closed codes to their successors),
each to the encryption certificate that snapshot's sealed entry lists. An addressed organisation
without one is refused here (KEY_MISSING) before anything is signed or published.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from schemas.blob import BlobRef, DocumentKeys, KeyWrap
from schemas.blob_crypto import (
    KEY_BYTES,
    certificate_fingerprint,
    ephemeral_point,
    new_ephemeral,
    wrap_content_key,
    wrap_document_key,
)
from schemas.directory_store import DirectorySnapshot
from schemas.envelope import Envelope
from schemas.errors import ContractError
from schemas.payload import Payload
from schemas.reasons import Reason
from schemas.routing import route

__all__ = ["seal_envelope"]


def _wrapped(payload: Payload, document_key: bytes, content_keys: Mapping[bytes, bytes]) -> Payload:
    blob = payload.blob
    if blob is None or blob.sealed is None:
        return payload
    content_key = content_keys.get(bytes(blob.sealed.id))
    if content_key is None:
        detail = f"{payload.file_name}: the content key of its encrypted chunks is not held by this sender"
        raise ContractError(Reason.KEY_MISSING, detail)
    sealed = blob.sealed.model_copy(update={"key": wrap_content_key(document_key, content_key)})
    new_blob: BlobRef = blob.model_copy(update={"sealed": sealed})
    return payload.model_copy(update={"blob": new_blob})


def seal_envelope(
    env: Envelope, snapshot: DirectorySnapshot, content_keys: Mapping[bytes, bytes]
) -> Envelope:
    """``env`` with its content keys wrapped and the document key wrapped to each recipient;
    ``env`` itself when nothing in it is encrypted. ContractError(KEY_MISSING) when a recipient
    lists no encryption certificate, RoutingError when an address does not resolve."""
    if not env.sealed:
        return env
    plan = route(snapshot, env.sender.code, env.recipients, env.groups)
    document_key, ephemeral = os.urandom(KEY_BYTES), new_ephemeral()
    wraps = []
    for code in plan.recipients:
        entry = snapshot.entry(code)
        cert = None if entry is None else entry.encryption_certificate
        if cert is None:
            detail = f"{code} lists no encryption certificate in directory {snapshot.hash.hex()[:16]}"
            raise ContractError(Reason.KEY_MISSING, detail)
        key = wrap_document_key(document_key, ephemeral, cert, env.message_id, code)
        wraps.append(KeyWrap(recipient=code, certificate=certificate_fingerprint(cert), key=key))
    keys = DocumentKeys(ephemeral=ephemeral_point(ephemeral), wraps=wraps)
    payload = _wrapped(env.payload, document_key, content_keys)
    attachments = [_wrapped(a, document_key, content_keys) for a in env.attachments]
    return env.model_copy(update={"payload": payload, "attachments": attachments, "keys": keys})
