"""Audit log export and import as an Avro object-container file, verifiable offline (docs/AUDIT.md).

Each entry is ``{kind: CHECKPOINT | RECORD, data: bytes, seal: bytes | null}`` holding the exact
stored bytes and a record's seal, so every hash and signature stays checkable (archives written
before seals existed have no ``seal`` field and read as unsealed). All checkpoints come first (in
the order given), then the records in index order, so a reader streams the records after holding
the few checkpoints.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, Any

import fastavro

from consumers.audit.core.checkpoint import AuditPublicKey
from consumers.audit.core.errors import AuditError
from consumers.audit.core.report import Fault, FaultKind, VerifyReport
from consumers.audit.core.sieve import Stored
from consumers.audit.core.verify import verify_sealed
from schemas.audit import ZERO_HASH
from schemas.reasons import Reason

__all__ = ["ARCHIVE_FORMAT", "ArchiveReader", "export_archive", "verify_archive"]

logger = logging.getLogger(__name__)

ARCHIVE_FORMAT = "docbus-audit-archive/v1"  # in the container header as metadata "docbus.format"
_SCHEMA = fastavro.parse_schema(
    {
        "type": "record",
        "name": "AuditArchiveEntry",
        "namespace": "vn.docbus",
        "fields": [
            {
                "name": "kind",
                "type": {"type": "enum", "name": "ArchiveEntryKind", "symbols": ["CHECKPOINT", "RECORD"]},
            },
            {"name": "data", "type": "bytes"},
            {"name": "seal", "type": ["null", "bytes"], "default": None},  # a record's seal
        ],
    }
)


def export_archive(
    out: IO[bytes], records: Iterable[Stored | bytes], checkpoints: Iterable[bytes], *, codec: str = "null"
) -> int:
    """Write checkpoints then records; returns the number of records written.

    ``codec="deflate"`` makes smaller files, but one damaged byte then loses a whole block."""
    count = 0

    def entries() -> Iterator[dict[str, Any]]:
        nonlocal count
        for data in checkpoints:
            yield {"kind": "CHECKPOINT", "data": data}
        for rec in records:
            count += 1
            stored = rec if isinstance(rec, Stored) else Stored(rec)
            yield {"kind": "RECORD", "data": stored.data, "seal": stored.seal}

    fastavro.writer(out, _SCHEMA, entries(), codec=codec, metadata={"docbus.format": ARCHIVE_FORMAT})
    return count


class ArchiveReader:
    """Reads an archive: ``checkpoints`` at once, ``records()`` streamed (import and verify)."""

    def __init__(self, src: IO[bytes]) -> None:
        try:
            self._reader = fastavro.reader(src)
            meta = self._reader.metadata.get("docbus.format")
            if meta != ARCHIVE_FORMAT:
                raise AuditError(Reason.MALFORMED, f"not a docbus audit archive (format {meta!r})")
            self._entries: Iterator[Any] = iter(self._reader)
            self.checkpoints: list[bytes] = []
            self._first: Stored | None = None
            for entry in self._entries:
                if entry["kind"] != "CHECKPOINT":
                    self._first = Stored(entry["data"], entry.get("seal"))
                    break
                self.checkpoints.append(entry["data"])
        except AuditError:
            raise
        except Exception as exc:  # fastavro: bad magic, schema, sync marker, codec, EOF
            raise AuditError(Reason.MALFORMED, f"unreadable audit archive: {exc!r}") from exc
        self.read = 0  # records yielded so far

    def records(self) -> Iterator[bytes]:
        """Stored record bytes in archive order; raises AuditError(MALFORMED) on damage."""
        return (s.data for s in self.sealed())

    def sealed(self) -> Iterator[Stored]:
        """Stored records with their seals in archive order; raises AuditError(MALFORMED) on damage."""
        if self._first is None:
            return
        yield self._first
        self.read = 1
        try:
            for entry in self._entries:
                if entry["kind"] != "RECORD":
                    raise AuditError(Reason.MALFORMED, f"checkpoint after record {self.read - 1}")
                yield Stored(entry["data"], entry.get("seal"))
                self.read += 1
        except AuditError:
            raise
        except Exception as exc:
            raise AuditError(Reason.MALFORMED, f"archive damaged after record {self.read}: {exc!r}") from exc


def verify_archive(
    src: IO[bytes],
    keys: Mapping[str, AuditPublicKey],
    *,
    decode: bool = True,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Verify an archive offline: the same checks as verify_log over its entries."""
    try:
        archive = ArchiveReader(src)
    except AuditError as exc:
        return VerifyReport(False, 0, 0, ZERO_HASH, Fault(FaultKind.DECODE, None, exc.detail))
    try:
        return verify_sealed(archive.sealed(), archive.checkpoints, keys, decode=decode, progress=progress)
    except AuditError as exc:  # the container broke mid-stream: the records after it are unreadable
        fault = Fault(FaultKind.DECODE, archive.read, exc.detail)
        return VerifyReport(False, archive.read, 0, ZERO_HASH, fault)
