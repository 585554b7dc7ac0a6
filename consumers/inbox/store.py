"""The recipient's local store: one folder per accepted document, rejected copies, a receipts log.

Layout under the store root::

    <message id>/envelope.bin       the exact bytes received
    <message id>/files/<name>       payload and attachments under their own names
    blobs/<sha256>                  a chunked payload's verified content, stored once (inbox/blobs.py);
                                    files/<name> of each document carrying it is a hard link to it
    <message id>/meta.json          sender, document id, subject, type, received at, verification
    <message id>/receipt.bin        the sealed 01 receipt, once the broker acknowledged it
    rejected/<message id or sha256>-<sha256 prefix>/envelope.bin + reason.json
    receipts/<receipt id>.bin       notices and forwarded receipts, exact bytes
    receipts.jsonl                  one line per receipt or notice recorded

Documents are written into a temporary folder and renamed into place, so a folder that exists is
complete: "stored" is an atomic fact and a second copy of the message id is recognised.
Files are kept under ``files/`` so a payload named ``meta.json`` cannot overwrite the metadata.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from producers.node_state import atomic_write
from schemas.envelope import Envelope
from schemas.payload import Payload
from schemas.receipt import Receipt
from schemas.text import safe_file_name

__all__ = ["InboxStore"]

Meta = dict[str, Any]


def _file_names(payloads: list[Payload]) -> list[str]:
    """Stored names: the sender's names made safe to show and write (schemas/text.py), numbered when
    two payloads share one."""
    seen: set[str] = set()
    names = []
    for i, p in enumerate(payloads):
        safe = safe_file_name(p.file_name)
        name = safe if safe not in seen else f"{i}-{safe}"
        seen.add(name)
        names.append(name)
    return names


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)  # one copy on disk however many documents carry it
    except OSError:
        shutil.copyfile(source, target)  # a file system without hard links


class InboxStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.rejected_dir = self.root / "rejected"
        self.receipts_dir = self.root / "receipts"
        self.log_path = self.root / "receipts.jsonl"

    # --- documents ------------------------------------------------------------------------------

    def folder(self, message_id: str) -> Path:
        return self.root / message_id

    def has(self, message_id: str) -> bool:
        return (self.folder(message_id) / "meta.json").is_file()

    def envelope_bytes(self, message_id: str) -> bytes:
        return (self.folder(message_id) / "envelope.bin").read_bytes()

    def meta(self, message_id: str) -> Meta:
        data: Meta = json.loads((self.folder(message_id) / "meta.json").read_text(encoding="utf-8"))
        return data

    def save_document(self, env: Envelope, raw: bytes, meta: Meta) -> Path:
        """Store envelope, files and metadata at once. FileExistsError if already stored."""
        final = self.folder(env.message_id)
        if final.exists():
            raise FileExistsError(final)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=".incoming-"))
        try:
            (tmp / "envelope.bin").write_bytes(raw)
            files = tmp / "files"
            files.mkdir()
            payloads = [env.payload, *env.attachments]
            stored = _file_names(payloads)
            for name, p in zip(stored, payloads, strict=True):
                if p.blob is not None:
                    _link(self.root / "blobs" / p.sha256.hex(), files / name)
                else:
                    (files / name).write_bytes(p.data)
            full = meta | {"files": stored}
            (tmp / "meta.json").write_text(json.dumps(full, indent=2, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, final)  # atomic on one file system; fails if ``final`` appeared meanwhile
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def mark_receipt(self, message_id: str, raw_receipt: bytes) -> None:
        atomic_write(self.folder(message_id) / "receipt.bin", raw_receipt)

    def receipt_sent(self, message_id: str) -> bool:
        return (self.folder(message_id) / "receipt.bin").is_file()

    def documents(self) -> list[Meta]:
        """Metadata of every stored document, oldest received first."""
        metas = [self.meta(p.name) for p in self._document_folders()]
        return sorted(metas, key=lambda m: str(m.get("received_at", "")))

    def _document_folders(self) -> Iterator[Path]:
        if self.root.is_dir():
            for p in self.root.iterdir():
                if p.is_dir() and (p / "meta.json").is_file():
                    yield p

    # --- rejected copies ------------------------------------------------------------------------

    def save_rejected(self, raw: bytes, message_id: str | None, reason: str, detail: str, at: str) -> Path:
        """Keep what was refused (once per exact bytes) with the reason."""
        digest = hashlib.sha256(raw).hexdigest()
        folder = self.rejected_dir / f"{message_id or 'undecodable'}-{digest[:16]}"
        atomic_write(folder / "envelope.bin", raw)
        doc = {"message_id": message_id, "reason": reason, "detail": detail, "at": at, "sha256": digest}
        atomic_write(folder / "reason.json", json.dumps(doc, indent=2, ensure_ascii=False).encode())
        return folder

    def rejected(self) -> list[Meta]:
        if not self.rejected_dir.is_dir():
            return []
        found = [json.loads((p / "reason.json").read_text("utf-8")) for p in self.rejected_dir.iterdir()]
        return sorted(found, key=lambda m: str(m["at"]))

    # --- receipts and notices -------------------------------------------------------------------

    def record_receipt(self, receipt: Receipt, raw: bytes, entry: Meta) -> bool:
        """Log a receipt or notice once per receipt id; False when it was already recorded."""
        path = self.receipts_dir / f"{receipt.message_id}.bin"
        if path.exists():
            return False
        # log first: a crash in between logs it twice (read back once), never not at all
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
        self.root.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
        atomic_write(path, raw)
        return True

    def receipts(self) -> list[Meta]:
        if not self.log_path.is_file():
            return []
        entries: dict[str, Meta] = {}
        for line in self.log_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                entry = json.loads(line)
                entries.setdefault(str(entry["receipt_id"]), entry)
        return list(entries.values())
