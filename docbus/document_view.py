"""What a clerk sees of one received envelope: its header as JSON, its signatures, its files written out.

One shape for ``docbus inbox show | export`` and ``docbus evidence verify --extract``
(docs/OPERATIONS.md, "Opening what was received"). A chunked payload's content is not in the
envelope: it comes from the inbox store (``files``), and an evidence bundle names only its digest.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from schemas.envelope import Envelope
from schemas.payload import Payload
from schemas.signature import Signature

__all__ = ["Written", "header_json", "signature_json", "write_document"]


def _name(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    values = cert.subject.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def signature_json(sig: Signature) -> dict[str, Any]:
    """Who signed (the certificate's names and serial), how, and when they say they did."""
    leaf = x509.load_der_x509_certificate(sig.chain[0])
    return {
        "role": sig.role.value, "algorithm": sig.algorithm, "name": _name(leaf, NameOID.COMMON_NAME),
        "position": _name(leaf, NameOID.TITLE), "serial": f"{leaf.serial_number:x}",
        "issuer": leaf.issuer.rfc4514_string(), "signing_time": sig.signing_time.isoformat(),
        "not_after": leaf.not_valid_after_utc.isoformat(),
    }  # fmt: skip


def _payload_json(p: Payload) -> dict[str, Any]:
    return {"name": p.file_name, "content_type": p.content_type, "size": p.size, "sha256": p.sha256.hex(),
            "chunks": len(p.blob.chunks) if p.blob is not None else 0}  # fmt: skip


def header_json(env: Envelope) -> dict[str, Any]:
    """The envelope's signed header fields, addresses, continuity, files and signatures."""
    return {
        "message_id": env.message_id,
        "sender": env.sender.model_dump(mode="json", exclude_none=True),
        "recipients": list(env.recipients), "groups": list(env.groups),
        "document": env.document.model_dump(mode="json"),
        "created_at": env.created_at.isoformat(), "sequence": env.sequence,
        "previous_hash": env.previous_hash.hex(), "directory_snapshot": env.directory_snapshot.hex(),
        "payload": _payload_json(env.payload), "attachments": [_payload_json(a) for a in env.attachments],
        "signatures": [signature_json(s) for s in env.signatures],
    }  # fmt: skip


@dataclass(frozen=True)
class Written:
    folder: Path
    files: list[Path]  # the payload and attachments written out
    missing: list[str]  # chunked files whose content was not at hand


def write_document(
    env: Envelope, raw: bytes, out: Path, *, stored: list[Path] | None = None, **extra: Any
) -> Written:
    """``out``/header.json (the header, with ``extra`` fields), envelope.bin (the exact bytes) and
    ``files/`` with the payload and attachments. ``stored``: the store's copies, in envelope order
    (needed for chunked files); each file written is checked against its signed digest."""
    files_dir = out / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    (out / "envelope.bin").write_bytes(raw)
    header = header_json(env) | extra
    (out / "header.json").write_text(
        json.dumps(header, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    written, missing = [], []
    for i, p in enumerate([env.payload, *env.attachments]):
        source = stored[i] if stored is not None and i < len(stored) else None
        target = files_dir / (source.name if source is not None else p.file_name)
        if p.blob is None:
            target.write_bytes(p.data)
        elif source is not None and source.is_file():
            shutil.copyfile(source, target)
        else:
            missing.append(p.file_name)
            continue
        if _sha256(target) != p.sha256:
            target.unlink()
            raise ValueError(f"{p.file_name}: the stored content does not match its signed SHA-256")
        written.append(target)
    return Written(out, written, missing)


def _sha256(path: Path) -> bytes:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").digest()
