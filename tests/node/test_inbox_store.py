"""The local store: complete folders only, names that cannot clobber metadata, receipts once."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumers.inbox.store import InboxStore
from producers.builder import build_envelope
from producers.receipts import make_receipt
from schemas.codec import encode
from schemas.payload import Payload
from schemas.receipt import StatusCode
from tests.node.conftest import NodePki
from tests.node.drafts import draft


def test_files_cannot_overwrite_metadata_and_a_document_is_stored_once(
    node_pki: NodePki, tmp_path: Path
) -> None:
    me = node_pki.identity("G03.U001")
    sneaky = [Payload.of("meta.json", "application/json", b'{"forged": true}'),
              Payload.of("cong-van.pdf", "application/pdf", b"second file, same name")]  # fmt: skip
    env = build_envelope(me, draft(attachments=sneaky))
    store = InboxStore(tmp_path)
    folder = store.save_document(env, b"raw bytes", {"message_id": env.message_id, "received_at": "t"})
    assert store.meta(env.message_id)["files"] == ["cong-van.pdf", "meta.json", "2-cong-van.pdf"]
    assert (folder / "files" / "meta.json").read_bytes() == b'{"forged": true}'
    assert (folder / "files" / "2-cong-van.pdf").read_bytes() == b"second file, same name"
    assert store.envelope_bytes(env.message_id) == b"raw bytes" and not store.receipt_sent(env.message_id)
    with pytest.raises(FileExistsError):
        store.save_document(env, b"raw bytes", {})
    assert [p.name for p in tmp_path.iterdir()] == [env.message_id]  # no temporary folder left


def test_receipts_are_logged_once(node_pki: NodePki, tmp_path: Path) -> None:
    env = build_envelope(node_pki.identity("G03.U001"), draft())
    receipt = make_receipt(
        node_pki.identity("G03.U002"), envelope_message_id=env.message_id,
        document_id=env.document.document_id, signing_hash=bytes(32), to_org="G03.U001",
        status=StatusCode.ARRIVED,
    )  # fmt: skip
    store = InboxStore(tmp_path)
    entry = {"receipt_id": receipt.message_id, "status": "01"}
    assert store.record_receipt(receipt, encode(receipt), entry)
    assert not store.record_receipt(receipt, encode(receipt), entry)
    assert store.receipts() == [entry]


def test_stored_file_names_are_sanitised(node_pki: NodePki, tmp_path: Path) -> None:
    """A name with a bidi override ("cv\\u202efdp.exe" shows as "cvexe.pdf") or a zero-width space is
    written with those characters replaced, whatever let it through (before: written to disk as is)."""
    me = node_pki.identity("G03.U001")
    good = Payload.of("x.pdf", "application/pdf", b"%PDF")
    odd = [Payload.model_construct(**{**dict(good), "file_name": "cv\u202efdp.exe"}),
           Payload.model_construct(**{**dict(good), "file_name": "a\u200bb.pdf"})]  # fmt: skip
    env = build_envelope(me, draft(attachments=odd))
    store = InboxStore(tmp_path)
    folder = store.save_document(env, b"raw", {"message_id": env.message_id, "received_at": "t"})
    assert store.meta(env.message_id)["files"][1:] == ["cv_fdp.exe", "a_b.pdf"]
    assert sorted(p.name for p in (folder / "files").iterdir()) == sorted(store.meta(env.message_id)["files"])
