"""Bounded reading of fetched record batches: the defence against compression bombs.

Kafka limits a produced batch by its size *as sent* (``max.message.bytes``): a gzip'd batch of 1 MB
can hold 1 GiB of zeros, a zstd one far more. aiokafka decodes a compressed batch whole, in memory,
when its first record is read (``gzip.GzipFile.read()``), so one such batch on a topic every org may
write (``docbus.ingress``, ``docbus.receipts``, ``docbus.blobs``) took a processor to 2 GB resident.
The broker cannot bound it for us: a topic whose ``compression.type`` differs from the producer's
makes the broker rebuild the batch in its own heap (observed: OutOfMemoryError in a 512 MB broker for
a 1 GiB batch), and with ``producer`` the broker checks the batch streaming, in constant memory, and
stores it as sent. So the readers bound it (docs/SECURITY.md, "Compression bombs"):

- ``gzip``: decoded by zlib up to :data:`MAX_DECODED_BYTES` per partition fetch; a batch over a
  whole budget is refused before the rest of it is ever decoded, one over what an earlier batch of
  the fetch left waits for the next fetch (it comes first there);
- ``snappy``, ``lz4``, ``zstd``, an unknown codec: refused unread (no docbus client compresses; the
  codec libraries are not installed, and aiokafka raised on such a batch at every fetch: a tiny zstd
  record stalled the processor for good);
- a batch that does not decode (truncated, bad records) is refused instead of being fetched again
  and again.

A refused batch is read as **one record** at the batch's last offset, with no key, an empty value
and the header :data:`REFUSED_HEADER` = ``"<REASON>: <detail>"`` (:func:`refusal`), so the consumer's
position moves past the batch and its reader records the refusal (the bus quarantines it) instead of
stalling. :func:`guard_fetches` installs this for every aiokafka consumer of the process (faust's
included): once, idempotent.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import aiokafka.consumer.fetcher as _fetcher
import aiokafka.record.default_records as _py_records

from schemas.reasons import Reason

__all__ = ["MAX_DECODED_BYTES", "REFUSED_HEADER", "guard_fetches", "refusal"]

#: bytes a consumer decodes per partition fetch at most: the fetch itself brings at most
#: max_partition_fetch_bytes (2 MiB, consumers/bus/clients.py) as sent
MAX_DECODED_BYTES = 4 * 1024 * 1024
#: the header of the one record a refused batch is read as
REFUSED_HEADER = "docbus_refused_batch"

_CODEC_MASK = 0x07
_NONE, _GZIP = 0, 1
_CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
_budget = threading.local()  # decoded bytes left for the partition fetch being read on this thread
_lock = threading.Lock()
_installed = False


class _TooLarge(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def bounded_gzip_decode(payload: Any) -> bytes:
    """aiokafka's gzip_decode, stopping at the budget of the partition fetch being read."""
    limit: int = getattr(_budget, "left", MAX_DECODED_BYTES)
    inflate = zlib.decompressobj(wbits=31)  # one gzip member, as Kafka's clients write it
    out = inflate.decompress(payload, limit + 1)
    if len(out) > limit or inflate.unconsumed_tail:
        raise _TooLarge(f"gzip batch decodes to more than {limit} bytes")
    if not inflate.eof:
        raise ValueError("gzip batch is truncated")
    _budget.left = limit - len(out)
    return out


Headers = Iterable[tuple[str, bytes | None]] | Mapping[str, bytes | None] | None


def refusal(headers: Headers) -> tuple[Reason, str] | None:
    """(reason, detail) when a record is the stand-in of a refused batch; None for a real record."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    for key, value in pairs:
        if key == REFUSED_HEADER and value is not None:
            reason, _, detail = bytes(value).decode("utf-8", "replace").partition(": ")
            return (Reason(reason), detail) if reason in Reason.__members__ else (Reason.MALFORMED, detail)
    return None


def _undecodable(exc: Exception) -> str:
    return f"batch does not decode: {type(exc).__name__}: {exc}"[:500]


class _GuardedBatch:
    """One fetched batch, decoded under the guard; everything else is the batch's own."""

    def __init__(self, inner: Any, owner: _GuardedRecords) -> None:
        self._inner, self._owner = inner, owner
        self._records: Iterator[Any] | None = None
        self._refused: Any = None
        self._iterator: Iterator[Any] | None = None
        self._crc_ok = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def prepare(self) -> bool:
        """Decode within what is left of the fetch's budget. False: the batch does not fit what is
        left but would fit a whole budget, so this fetch ends before it (it comes first in the next)."""
        inner = self._inner
        self._crc_ok = bool(inner.validate_crc())  # aiokafka checks it before iterating, and so here
        codec = inner.attributes & _CODEC_MASK
        if codec not in (_NONE, _GZIP):
            name = _CODECS.get(codec, hex(codec))
            self._refused = self._stand_in(Reason.MALFORMED, f"{name} batch refused unread")
            return True
        _budget.left = self._owner.left
        try:
            self._records = iter(inner)  # aiokafka decodes a compressed batch whole, here
        except _TooLarge as exc:
            if self._owner.left < MAX_DECODED_BYTES:
                return False
            self._refused = self._stand_in(Reason.TOO_LARGE, exc.detail)
        except Exception as exc:  # a batch that cannot be read is refused, not re-fetched for ever
            self._refused = self._stand_in(Reason.MALFORMED, _undecodable(exc))
        else:
            self._owner.left = _budget.left
        return True

    def validate_crc(self) -> bool:
        return self._crc_ok

    def __iter__(self) -> Iterator[Any]:
        if self._iterator is None:
            self._iterator = self._read()
        return self._iterator

    def __next__(self) -> Any:
        return next(iter(self))

    def _read(self) -> Iterator[Any]:
        if self._records is None:
            yield self._refused
            return
        try:
            yield from self._records
        except Exception as exc:  # the rest of a batch whose records do not parse
            yield self._stand_in(Reason.MALFORMED, _undecodable(exc))

    def _stand_in(self, reason: Reason, detail: str) -> Any:
        inner = self._inner
        last = inner.next_offset - 1
        value = f"{reason.value}: offsets {inner.base_offset}..{last}: {detail}".encode()
        return _py_records._DefaultRecordPy(
            last, inner.max_timestamp, inner.timestamp_type, None, b"", [(REFUSED_HEADER, value)]
        )


class _GuardedRecords:
    """The batches of one partition fetch, each decoded under the guard, sharing one budget."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.left = MAX_DECODED_BYTES
        self._next: _GuardedBatch | None = None
        self._ended = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def has_next(self) -> bool:
        if self._next is None and not self._ended and self._inner.has_next():
            batch = self._inner.next_batch()
            if batch is not None:
                guarded = _GuardedBatch(batch, self)
                if guarded.prepare():
                    self._next = guarded
                else:
                    self._ended = True
        return self._next is not None

    def next_batch(self) -> Any:
        if not self.has_next():
            return None
        batch, self._next = self._next, None
        return batch


class _GuardedPartitionRecords(_fetcher.PartitionRecords):  # type: ignore[misc]
    def __init__(self, tp: Any, records: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(tp, _GuardedRecords(records), *args, **kwargs)


def guard_fetches() -> None:
    """Install the guard for every aiokafka consumer of this process (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        _py_records.gzip_decode = bounded_gzip_decode
        try:
            import aiokafka.record._crecords.default_records as c_records
        except ImportError:  # aiokafka without its C extension (AIOKAFKA_NO_EXTENSIONS)
            pass
        else:
            c_records.gzip_decode = bounded_gzip_decode  # the extension looks the name up per call
        _fetcher.PartitionRecords = _GuardedPartitionRecords
        _installed = True
