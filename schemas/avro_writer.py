"""Avro single-object encoding compiled per schema: the bytes ``schemas.codec.encode`` writes
(docs/ENVELOPE.md, "Wire format"), for the records the bus writes several times per envelope.

``fastavro.schemaless_writer`` interprets the parsed schema for every record and resolves each
union branch by validating the datum against it; the bus's outputs (notices, routing proofs,
audit drafts) paid about 15–25 µs per record for that. Here each schema is compiled once into a
chain of small writers, one per field, straight from the same parsed schema the codec registry
holds (so the layout has one source, the ``.avsc``). Unions are compiled only in the form the
shipped schemas use — ``null`` and one other branch — so the branch a value takes is never a
guess; a schema outside that form is not compiled (:func:`writer` raises ``ValueError``) and
:func:`encode_model` hands its records to the codec. tests/schemas/test_avro_writer.py checks
the bytes against ``fastavro`` and the codec.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from schemas.codec import MARKER, AvroModel, encode, schema_entries
from schemas.errors import ContractError
from schemas.reasons import Reason

__all__ = ["encode_model", "writer"]

Write = Callable[[list[bytes], Any], None]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAYS = date(1970, 1, 1).toordinal()
_SMALL = tuple(bytes((i,)) for i in range(128))  # the zig-zag varints of 0..63 and -1..-64
_FLOAT = struct.Struct("<f").pack
_DOUBLE = struct.Struct("<d").pack


def zigzag(n: int) -> bytes:
    """An Avro int/long: zig-zag, then base-128 varint, least significant group first."""
    z = (n << 1) ^ (n >> 63)
    if z < 0x80:
        return _SMALL[z]
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


_COUNTS = tuple(zigzag(n) for n in range(4096))  # lengths and block counts: no arithmetic


def _count(n: int) -> bytes:
    return _COUNTS[n] if n < 4096 else zigzag(n)


def _millis(value: Any) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamp-millis needs a timezone-aware datetime")
        delta = value - _EPOCH  # fastavro's arithmetic, to the byte
        return (delta.days * 86400 + delta.seconds) * 1000 + int(delta.microseconds / 1000)
    return int(value)


def _days(value: Any) -> int:
    if isinstance(value, date):
        return value.toordinal() - _EPOCH_DAYS
    return int(value)


def _primitive(kind: str, logical: str | None) -> Write:
    if kind in ("int", "long"):
        if logical == "timestamp-millis":
            return lambda out, v: out.append(zigzag(_millis(v)))
        if logical == "date":
            return lambda out, v: out.append(zigzag(_days(v)))
        if logical is not None:
            raise ValueError(f"logical type {logical} is not compiled")
        return lambda out, v: out.append(zigzag(v))
    if logical is not None:
        raise ValueError(f"logical type {logical} is not compiled")
    if kind == "string":

        def string(out: list[bytes], v: Any) -> None:
            data = v.encode()
            n = len(data)
            out.append(_COUNTS[n] if n < 4096 else zigzag(n))
            out.append(data)

        return string
    if kind == "bytes":

        def raw(out: list[bytes], v: Any) -> None:
            n = len(v)
            out.append(_COUNTS[n] if n < 4096 else zigzag(n))
            out.append(bytes(v))

        return raw
    if kind == "null":

        def null(out: list[bytes], v: Any) -> None:
            if v is not None:
                raise ValueError(f"null expected, got {type(v).__name__}")

        return null
    if kind == "boolean":
        return lambda out, v: out.append(b"\x01" if v else b"\x00")
    if kind == "float":
        return lambda out, v: out.append(_FLOAT(v))
    if kind == "double":
        return lambda out, v: out.append(_DOUBLE(v))
    raise ValueError(f"type {kind} is not compiled")


class _Compiler:
    def __init__(self) -> None:
        self.named: dict[str, Write] = {}

    def compile(self, schema: Any) -> Write:
        if isinstance(schema, str):
            if schema in self.named:
                return self.named[schema]
            return _primitive(schema, None)
        if isinstance(schema, list):
            return self._union(schema)
        kind = schema["type"]
        if kind == "record":
            return self._record(schema)
        if kind == "fixed":
            return self._fixed(schema)
        if kind == "enum":
            return self._enum(schema)
        if kind == "array":
            return self._array(schema)
        if kind == "map":
            return self._map(schema)
        if not isinstance(kind, str):  # {"type": {...}}: the inner schema
            return self.compile(kind)
        return _primitive(kind, schema.get("logicalType"))

    def _record(self, schema: dict[str, Any]) -> Write:
        fields = tuple((f["name"], self.compile(f["type"])) for f in schema["fields"])

        def record(out: list[bytes], v: Mapping[str, Any]) -> None:
            for name, write in fields:
                write(out, v[name])

        self.named[schema["name"]] = record
        return record

    def _fixed(self, schema: dict[str, Any]) -> Write:
        size, name = schema["size"], schema["name"]

        def fixed(out: list[bytes], v: Any) -> None:
            if len(v) != size:
                raise ValueError(f"{name} needs {size} bytes, got {len(v)}")
            out.append(bytes(v))

        self.named[name] = fixed
        return fixed

    def _enum(self, schema: dict[str, Any]) -> Write:
        index = {symbol: zigzag(i) for i, symbol in enumerate(schema["symbols"])}

        def enum(out: list[bytes], v: Any) -> None:
            out.append(index[v])

        self.named[schema["name"]] = enum
        return enum

    def _array(self, schema: dict[str, Any]) -> Write:
        item = self.compile(schema["items"])

        def array(out: list[bytes], v: Any) -> None:
            if v:
                out.append(_count(len(v)))
                for x in v:
                    item(out, x)
            out.append(b"\x00")

        return array

    def _map(self, schema: dict[str, Any]) -> Write:
        value = self.compile(schema["values"])
        key = _primitive("string", None)

        def mapping(out: list[bytes], v: Mapping[str, Any]) -> None:
            if v:
                out.append(_count(len(v)))
                for k, x in v.items():
                    key(out, k)
                    value(out, x)
            out.append(b"\x00")

        return mapping

    def _union(self, branches: list[Any]) -> Write:
        others = [i for i, b in enumerate(branches) if b != "null"]
        if len(branches) != 2 or len(others) != 1:
            raise ValueError(f"union {branches!r} is not compiled (only null and one other type)")
        (i,) = others
        some, none = zigzag(i), zigzag(1 - i)
        inner = self.compile(branches[i])

        def union(out: list[bytes], v: Any) -> None:
            if v is None:
                out.append(none)
            else:
                out.append(some)
                inner(out, v)

        return union


@cache
def writer(schema_name: str) -> Callable[[Mapping[str, Any]], bytes]:
    """``record -> single-object bytes`` for the named schema (a file stem of schemas/avro/), the
    record as ``model_dump()`` gives it; raises ``ValueError`` when the schema uses a form this
    module does not compile."""
    entry = next((e for e in schema_entries() if e.name == schema_name), None)
    if entry is None:
        raise ValueError(f"no schema named {schema_name!r}")
    body = _Compiler().compile(entry.parsed)
    head = MARKER + entry.fingerprint

    def encode(record: Mapping[str, Any]) -> bytes:
        out = [head]
        body(out, record)
        return b"".join(out)

    return encode


@cache
def _compiled(schema_name: str) -> Callable[[Mapping[str, Any]], bytes] | None:
    try:
        return writer(schema_name)
    except ValueError:
        return None


def encode_model(obj: AvroModel) -> bytes:
    """``schemas.codec.encode(obj)``, the same bytes, through the compiled writer of its schema;
    ContractError(INVALID_FIELD) for a value the schema cannot hold, as the codec raises."""
    name = type(obj).avro_schema
    write = _compiled(name)
    if write is None:
        return encode(obj)
    try:
        return write(obj.model_dump())
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise ContractError(Reason.INVALID_FIELD, f"cannot encode {name}: {exc!r}") from exc
