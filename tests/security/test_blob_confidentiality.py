"""Large payloads are confidential between organisations (ADR 0004, docs/ENVELOPE.md §7.4).

On the secured test broker every org may read ``docbus.blobs`` (its ACL): ORG_B, with its own
certificate, reads the very records of a document addressed to ORG_A and finds ciphertext only,
which its encryption key cannot open; ORG_A, with its certificate and key, opens the document."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from consumers.inbox.blobs import content_keys, receive_blob
from infra.pki import Authority
from producers.blob_keys import seal_envelope
from producers.blob_reader import BlobReader
from producers.blob_upload import BlobUploader
from producers.identity import EncryptionKey, NodeIdentity
from producers.publisher import Publisher
from schemas.blob_crypto import unwrap_document_key
from schemas.directory import DirectoryEntry
from schemas.directory_store import DirectorySnapshot
from schemas.envelope import Envelope, check_envelope
from schemas.errors import ContractError
from schemas.reasons import Reason
from tests.schemas.samples import sample_envelope
from tests.security.conftest import ADMIN, ORG_A, ORG_B, Secured

pytestmark = pytest.mark.broker
CHUNK = 64 * 1024
SECRET = b"%PDF-1.7 bien ban ky luat - chi gui G03.15 " * 1000  # recognisable plaintext


def _keys(folder: Path) -> dict[str, EncryptionKey]:
    ca = Authority.init(folder, b"enc-pass")
    out = {}
    for code in ("G03", ORG_A, ORG_B):
        ca.issue_org(code, f"Tổ chức {code}")
        key = NodeIdentity.from_pki(folder, code, "enc-pass").encryption
        assert key is not None
        out[code] = key
    return out


def _snapshot(keys: dict[str, EncryptionKey]) -> DirectorySnapshot:
    kinds = {"G03": "ministry", ORG_A: "ministry_unit", ORG_B: "ministry_unit"}
    return DirectorySnapshot.build(
        DirectoryEntry.model_validate(
            {
                "code": code,
                "name": f"Tổ chức {code}",
                "kind": kind,
                "version": 1,
                "updated_at": "2025-01-01T00:00:00Z",
                "encryption_certificate": keys[code].certificate,
            }
        )
        for code, kind in kinds.items()
    )


async def test_another_org_reads_only_ciphertext_and_the_recipient_opens_the_document(
    secured: Secured, tmp_path: Path
) -> None:
    keys = _keys(tmp_path / "pki")
    scan = tmp_path / "bien-ban.pdf"
    scan.write_bytes(SECRET + os.urandom(5 * CHUNK))  # spans several chunks
    async with Publisher(secured.connection(ADMIN)) as pub:  # the sending node (the harness)
        uploader = BlobUploader(pub, tmp_path / "journal", chunk_size=CHUNK)
        payload = await uploader.upload(scan, "application/pdf")
    env: Envelope = seal_envelope(
        sample_envelope(payload=payload, attachments=[], recipients=[ORG_A], groups=[]),
        _snapshot(keys),
        uploader.content_keys,
    )
    check_envelope(env)
    assert payload.blob is not None and payload.blob.sealed is not None and env.keys is not None

    # ORG_B's own login reads the document's chunk records: the ACL lets it, the content does not
    seen = []
    async with BlobReader(secured.connection(ORG_B), wait=10) as snoop:
        async for raw in snoop.records(payload.blob):
            seen.append(raw)
    assert len(seen) == len(payload.blob.chunks)
    stolen = b"".join(seen)
    assert b"bien ban ky luat" not in stolen and SECRET[:64] not in stolen
    assert bytes(payload.sha256) not in stolen  # not even the content's digest, which would confirm a guess
    # and its encryption key opens nothing: no wrap names it, and ORG_A's wrap does not open under it
    with pytest.raises(ContractError) as err:
        content_keys(env, ORG_B, keys[ORG_B])
    assert err.value.reason is Reason.KEY_MISSING
    wrap = env.keys.wrap_for(ORG_A)
    assert wrap is not None
    with pytest.raises(ContractError) as err:
        unwrap_document_key(wrap.key, keys[ORG_B].key, env.keys.ephemeral, bytes(wrap.certificate),
                            env.message_id, ORG_A)  # fmt: skip
    assert err.value.reason is Reason.KEY_INVALID

    # ORG_A, with its login and its encryption key, opens the document while streaming
    opened = content_keys(env, ORG_A, keys[ORG_A])
    async with BlobReader(secured.connection(ORG_A), wait=10) as reader:
        path = await receive_blob(reader, tmp_path / "inbox-a", payload, opened[payload.blob.sealed.id])
    assert path.read_bytes() == scan.read_bytes()
    assert hashlib.sha256(path.read_bytes()).digest() == payload.sha256
