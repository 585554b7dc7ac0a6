"""Avro single-object encoding for every docbus record (docs/ENVELOPE.md, "Wire format").

A message is ``C3 01`` + the 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema's
parsing canonical form + the Avro binary body. Every ``schemas/avro/*.avsc`` is loaded once and
cached; the reader looks the writer schema up by fingerprint and, when the writer is an older
version of the same record (same full name), resolves it to the reader's schema.
"""

from __future__ import annotations

import io
import json
import logging
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import fastavro
import fastavro.schema
import pydantic
from fastavro.read import SchemaResolutionError

from schemas.errors import ContractError
from schemas.reasons import Reason

__all__ = [
    "MARKER",
    "AvroModel",
    "SchemaEntry",
    "construct_unchecked",
    "decode",
    "encode",
    "fingerprint",
    "read_record",
    "record_name",
    "register_schema",
    "schema_entries",
    "validate_record",
]

logger = logging.getLogger(__name__)

MARKER = b"\xc3\x01"
_HEADER_LEN = len(MARKER) + 8
_AVRO_DIR = Path(__file__).parent / "avro"

T = TypeVar("T", bound="AvroModel")


class AvroModel(pydantic.BaseModel):
    """A pydantic model with an Avro schema; ``avro_schema`` is the file stem in schemas/avro/."""

    avro_schema: ClassVar[str]


@dataclass(frozen=True, slots=True)
class SchemaEntry:
    name: str  # file stem, e.g. "envelope.v1"
    full_name: str  # Avro record full name, e.g. "vn.docbus.Envelope"
    fingerprint: bytes  # 8 bytes, little-endian CRC-64-AVRO, as written on the wire
    parsed: dict[str, Any]  # fastavro-parsed schema, reused for every message


class _Registry:
    def __init__(self) -> None:
        self.by_name: dict[str, SchemaEntry] = {}
        self.by_fingerprint: dict[bytes, SchemaEntry] = {}
        self.loaded = False

    def ensure_loaded(self) -> None:
        if self.loaded:
            return
        for path in sorted(_AVRO_DIR.glob("*.avsc")):
            self.add(path.name.removesuffix(".avsc"), json.loads(path.read_text(encoding="utf-8")))
        self.loaded = True

    def add(self, name: str, schema: dict[str, Any]) -> SchemaEntry:
        parsed = fastavro.parse_schema(schema, named_schemas={})
        if not isinstance(parsed, dict) or parsed.get("type") != "record":
            raise ValueError(f"schema {name} is not a record schema")
        canonical = fastavro.schema.to_parsing_canonical_form(parsed)
        # fastavro renders the 64-bit value as hex of its little-endian bytes: exactly the wire form
        fp = bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))
        entry = SchemaEntry(name, str(parsed["name"]), fp, parsed)
        known = self.by_fingerprint.get(fp)
        if known is not None and known.name != name:
            logger.debug("schema %s has the same canonical form as %s", name, known.name)
        self.by_name[name] = entry
        self.by_fingerprint.setdefault(fp, entry)
        return entry

    def get(self, name: str) -> SchemaEntry:
        self.ensure_loaded()
        try:
            return self.by_name[name]
        except KeyError:
            raise ContractError(Reason.UNKNOWN_SCHEMA, f"no schema named {name!r}") from None


_registry = _Registry()


def register_schema(name: str, schema: dict[str, Any]) -> SchemaEntry:
    """Add a schema not shipped in schemas/avro/ (tests, tools). Returns its entry."""
    _registry.ensure_loaded()
    return _registry.add(name, schema)


def schema_entries() -> list[SchemaEntry]:
    """Every known schema, by file stem (the list docs/ENVELOPE.md prints)."""
    _registry.ensure_loaded()
    return [_registry.by_name[n] for n in sorted(_registry.by_name)]


def fingerprint(schema_name: str) -> bytes:
    """The 8 wire bytes (little-endian CRC-64-AVRO) of the named schema."""
    return _registry.get(schema_name).fingerprint


def record_name(data: bytes) -> str | None:
    """The Avro full name (e.g. ``vn.docbus.Receipt``) of the schema that wrote ``data``, whatever
    its version; None when ``data`` names no known schema."""
    _registry.ensure_loaded()
    if len(data) < _HEADER_LEN or data[:2] != MARKER:
        return None
    entry = _registry.by_fingerprint.get(bytes(data[2:_HEADER_LEN]))
    return None if entry is None else entry.full_name


def encode(obj: AvroModel) -> bytes:
    entry = _registry.get(type(obj).avro_schema)
    buf = io.BytesIO()
    buf.write(MARKER)
    buf.write(entry.fingerprint)
    try:
        fastavro.schemaless_writer(buf, entry.parsed, obj.model_dump())
    except Exception as exc:  # fastavro raises ValueError/TypeError/KeyError for bad data
        raise ContractError(Reason.INVALID_FIELD, f"cannot encode {entry.name}: {exc}") from exc
    return buf.getvalue()


def decode(data: bytes, model: type[T]) -> T:
    """Decode single-object-encoded ``data`` into ``model``; raises only ContractError."""
    return validate_record(*read_record(data, model), model)


def read_record(data: bytes, model: type[AvroModel]) -> tuple[dict[str, Any], int]:
    """The Avro step of :func:`decode`: the record as the reader's schema sees it (older writer
    versions resolved, defaults filled) and how many bytes follow it; nothing validated yet.
    MALFORMED / UNKNOWN_SCHEMA when there is no record to read."""
    reader = _registry.get(model.avro_schema)
    if len(data) < _HEADER_LEN or data[:2] != MARKER:
        raise ContractError(Reason.MALFORMED, "not an Avro single-object message (marker C3 01)")
    writer = _registry.by_fingerprint.get(bytes(data[2:_HEADER_LEN]))
    if writer is None:
        raise ContractError(Reason.UNKNOWN_SCHEMA, f"unknown schema fingerprint {data[2:10].hex()}")
    if writer.full_name != reader.full_name:
        raise ContractError(
            Reason.UNKNOWN_SCHEMA,
            f"message is a {writer.full_name} ({writer.name}), expected {reader.full_name}",
        )
    buf = io.BytesIO(data)
    buf.seek(_HEADER_LEN)
    try:
        if writer is reader:
            record = fastavro.schemaless_reader(buf, writer.parsed, None)
        else:
            record = fastavro.schemaless_reader(buf, writer.parsed, reader.parsed)
    except SchemaResolutionError as exc:  # the writer version breaks the evolution rules
        detail = f"{writer.name} cannot be read as {reader.name}: {exc}"
        raise ContractError(Reason.UNKNOWN_SCHEMA, detail) from exc
    except Exception as exc:  # EOF, struct, Unicode, enum index, overflow: all undecodable
        raise ContractError(Reason.MALFORMED, f"bad Avro body for {writer.name}: {exc!r}") from exc
    if not isinstance(record, dict):
        raise ContractError(Reason.MALFORMED, f"{writer.name} body is not a record")
    return record, len(data) - buf.tell()


def validate_record(record: dict[str, Any], trailing: int, model: type[T]) -> T:
    """The contract step of :func:`decode`: no bytes after the body (MALFORMED), then the model's
    rules (INVALID_FIELD)."""
    if trailing:
        raise ContractError(Reason.MALFORMED, f"{trailing} trailing bytes after the body")
    try:
        return model.model_validate(record)
    except pydantic.ValidationError as exc:
        raise ContractError(Reason.INVALID_FIELD, _summarise(exc)) from exc
    except (ValueError, TypeError) as exc:  # validators that raise outside pydantic's wrapping
        raise ContractError(Reason.INVALID_FIELD, str(exc)) from exc


M = TypeVar("M", bound=pydantic.BaseModel)


def construct_unchecked(model: type[M], record: dict[str, Any]) -> M:
    """``model`` built from a decoded record **without** its rules (nested models too): what a
    signer may have signed although the contract refuses it. Only for telling an authenticated
    sender why (its signing input is recomputed from these fields); never accepted as valid."""
    values = {
        name: _unchecked(info.annotation, record[name])
        for name, info in model.model_fields.items()
        if name in record
    }
    return model.model_construct(**values)


def _unchecked(annotation: Any, value: Any) -> Any:
    if isinstance(value, list):
        return [_unchecked(annotation, v) for v in value]
    if isinstance(value, dict):
        models = _models_in(annotation)
        if len(models) == 1:
            return construct_unchecked(models[0], value)
    return value


def _models_in(annotation: Any) -> list[type[pydantic.BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _summarise(exc: pydantic.ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    loc = ".".join(str(p) for p in first["loc"]) or "<record>"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{loc}: {first['msg']}{more}"
