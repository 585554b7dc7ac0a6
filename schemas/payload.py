"""Payload and attachment: a descriptor (name, type, size, SHA-256) plus the inline bytes, or,
for a large one, a :class:`~schemas.blob.BlobRef` to its chunks on ``docbus.blobs``.

The signing input covers the descriptor (and the blob reference), never the bytes; the digest
check binds the two (inline here, chunked by schemas.blob.BlobAssembly)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from schemas.blob import BlobRef, chunk_count
from schemas.fields import Sha256

__all__ = ["Payload"]

_PATH_CHARS = re.compile(r"[/\\\x00]")
# RFC 6838 type/subtype, optional parameters ("; charset=utf-8")
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}(;[ -~]*)?")


def _content_type(value: str) -> str:
    if _CONTENT_TYPE.fullmatch(value) is None:
        raise ValueError("content type must be a lowercase type/subtype (RFC 6838)")
    return value


def _file_name(value: str) -> str:
    # a bare name: recipients store it, so no path components
    if value in {".", ".."} or _PATH_CHARS.search(value) is not None:
        raise ValueError("file name must not contain path separators or NUL")
    return value


class Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    file_name: Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_file_name)]
    content_type: Annotated[str, Field(max_length=255), AfterValidator(_content_type)]
    size: int = Field(ge=0, lt=2**63)
    sha256: Sha256
    data: bytes
    blob: BlobRef | None = None  # v3: the content travels as chunks, ``data`` is empty

    @model_validator(mode="after")
    def _chunked(self) -> Payload:
        if self.blob is not None:
            if self.data:
                raise ValueError("a chunked payload carries no inline data")
            if self.size < 1 or chunk_count(self.size, self.blob.chunk_size) != len(self.blob.chunks):
                raise ValueError("chunk count does not match size and chunk_size")
        return self

    @property
    def chunked(self) -> bool:
        return self.blob is not None

    @classmethod
    def of(cls, file_name: str, content_type: str, data: bytes) -> Payload:
        """Build a payload whose descriptor matches ``data``."""
        return cls(
            file_name=unicodedata.normalize("NFC", file_name),  # a file system may spell it NFD
            content_type=content_type,
            size=len(data),
            sha256=hashlib.sha256(data).digest(),
            data=data,
        )
