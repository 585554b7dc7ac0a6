"""The chunk contract (docs/ENVELOPE.md §7): chunk records, the v3 signing input, and every bad
chunk a reader can meet, each with its defined outcome."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import fastavro
import pytest
from pydantic import ValidationError

from schemas.blob import BlobAssembly, BlobRef, ChunkRef, chunk_count, decode_chunk, encode_chunk
from schemas.canonical import ENVELOPE_CONTEXT, ENVELOPE_V3_CONTEXT, envelope_signing_input
from schemas.codec import decode, encode, fingerprint
from schemas.envelope import Envelope, check_envelope
from schemas.errors import ContractError
from schemas.limits import Limits
from schemas.payload import Payload
from schemas.reasons import Reason
from tests.schemas.samples import sample_envelope

CHUNK = 4096
CONTENT = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(320)) + b"tail"  # 3 chunks
DIGEST = hashlib.sha256(CONTENT).digest()
PIECES = [CONTENT[i : i + CHUNK] for i in range(0, len(CONTENT), CHUNK)]
RECORDS = [encode_chunk(DIGEST, len(CONTENT), i, p) for i, p in enumerate(PIECES)]
REF = BlobRef(
    chunk_size=CHUNK,
    partition=2,
    chunks=[ChunkRef(sha256=hashlib.sha256(p).digest(), offset=10 + i) for i, p in enumerate(PIECES)],
)


def chunked(name: str = "scan.pdf", ref: BlobRef = REF) -> Payload:
    return Payload(
        file_name=name, content_type="application/pdf", size=len(CONTENT), sha256=DIGEST, data=b"", blob=ref
    )


def assemble(records: list[bytes], ref: BlobRef = REF, size: int = len(CONTENT)) -> bytes:
    asm = BlobAssembly(DIGEST, size, ref)
    out = b"".join(bytes(asm.accept(r)) for r in records)
    asm.finish()
    return out


def _reason(records: list[bytes], **kw: object) -> Reason:
    with pytest.raises(ContractError) as err:
        assemble(records, **kw)  # type: ignore[arg-type]
    return err.value.reason


def test_chunk_record_is_the_avro_single_object_encoding() -> None:
    schema = json.loads((Path("schemas/avro/blob_chunk.v1.avsc")).read_text())
    body = io.BytesIO()
    record = {
        "content": DIGEST,
        "size": len(CONTENT),
        "index": 1,
        "sha256": hashlib.sha256(PIECES[1]).digest(),
        "data": PIECES[1],
    }
    fastavro.schemaless_writer(body, fastavro.parse_schema(schema), record)
    assert RECORDS[1] == b"\xc3\x01" + fingerprint("blob_chunk.v1") + body.getvalue()
    decoded = decode_chunk(RECORDS[1])
    assert (decoded.content, decoded.size, decoded.index, bytes(decoded.data)) == (
        DIGEST,
        10244,
        1,
        PIECES[1],
    )


@pytest.mark.parametrize("cut", [0, 5, 20, 60, len(RECORDS[0]) - 1])
def test_a_truncated_chunk_record_is_malformed(cut: int) -> None:
    with pytest.raises(ContractError) as err:
        decode_chunk(RECORDS[0][:cut])
    assert err.value.reason is Reason.MALFORMED


def test_chunks_in_order_reassemble_the_content() -> None:
    assert assemble(RECORDS) == CONTENT


def test_reordered_duplicated_or_missing_chunks_are_refused() -> None:
    assert _reason([RECORDS[1], RECORDS[0], RECORDS[2]]) is Reason.BLOB_MISMATCH  # reordered
    assert _reason([RECORDS[0], RECORDS[0], RECORDS[2]]) is Reason.BLOB_MISMATCH  # duplicated
    assert _reason(RECORDS[:2]) is Reason.BLOB_INCOMPLETE  # truncated: a chunk never came


def test_a_forged_chunk_is_refused_even_when_self_consistent() -> None:
    forged = encode_chunk(DIGEST, len(CONTENT), 1, b"X" * CHUNK)  # its own SHA-256 is right
    assert _reason([RECORDS[0], forged, RECORDS[2]]) is Reason.BLOB_MISMATCH


def test_a_record_misstating_its_own_digest_is_refused() -> None:
    raw = bytearray(RECORDS[0])
    at = raw.index(hashlib.sha256(PIECES[0]).digest())
    raw[at] ^= 1
    assert _reason([bytes(raw), *RECORDS[1:]]) is Reason.BLOB_MISMATCH


def test_a_truncated_chunk_body_is_refused() -> None:
    short = encode_chunk(DIGEST, len(CONTENT), 0, PIECES[0][:-1])
    ref = REF.model_copy(
        update={
            "chunks": [ChunkRef(sha256=hashlib.sha256(PIECES[0][:-1]).digest(), offset=10), *REF.chunks[1:]]
        }
    )
    assert _reason([short, *RECORDS[1:]], ref=ref) is Reason.BLOB_MISMATCH


def test_a_digest_collision_attempt_with_another_size_is_refused() -> None:
    # chunks claiming the content's digest with another total size never count for it
    other = [encode_chunk(DIGEST, len(CONTENT) + 1, i, p) for i, p in enumerate(PIECES)]
    assert _reason(other) is Reason.BLOB_MISMATCH
    with pytest.raises(ContractError) as err:
        assemble(RECORDS, size=len(CONTENT) - 1)
    assert err.value.reason is Reason.BLOB_MISMATCH


def test_chunk_digests_of_other_content_fail_at_the_whole_digest() -> None:
    # a sender signing chunk digests that do not make the signed content: caught at the end
    asm = BlobAssembly(hashlib.sha256(b"other").digest(), len(CONTENT), REF)
    with pytest.raises(ContractError) as err:
        asm.accept(RECORDS[0])
    assert err.value.reason is Reason.BLOB_MISMATCH  # the record names another content


def test_a_resumed_assembly_checks_what_it_holds() -> None:
    asm = BlobAssembly(DIGEST, len(CONTENT), REF)
    asm.resume(PIECES[0])
    asm.accept(RECORDS[1])
    asm.accept(RECORDS[2])
    asm.finish()
    bad = BlobAssembly(DIGEST, len(CONTENT), REF)
    with pytest.raises(ContractError):
        bad.resume(PIECES[1])


def test_a_chunked_payload_must_be_consistent() -> None:
    assert chunk_count(len(CONTENT), CHUNK) == 3
    with pytest.raises(ValidationError, match="chunk count"):
        chunked(ref=REF.model_copy(update={"chunks": REF.chunks[:2]}))
    with pytest.raises(ValidationError, match="no inline data"):
        Payload(
            file_name="a",
            content_type="application/pdf",
            size=len(CONTENT),
            sha256=DIGEST,
            data=b"x",
            blob=REF,
        )
    with pytest.raises(ValidationError, match="one offset"):
        BlobRef(chunk_size=CHUNK, partition=0, chunks=[REF.chunks[0], REF.chunks[0]])


def test_v3_envelope_round_trips_and_signs_every_chunk_reference() -> None:
    env = sample_envelope(payload=chunked())
    assert decode(encode(env), Envelope) == env
    signed = envelope_signing_input(env)
    assert signed.startswith(ENVELOPE_V3_CONTEXT)
    moved = REF.model_copy(
        update={"chunks": [*REF.chunks[:2], ChunkRef(sha256=REF.chunks[2].sha256, offset=99)]}
    )
    assert envelope_signing_input(sample_envelope(payload=chunked(ref=moved))) != signed
    other = REF.model_copy(update={"partition": 1})
    assert envelope_signing_input(sample_envelope(payload=chunked(ref=other))) != signed
    check_envelope(env)  # no inline digest to check: the chunks are checked as they stream


def test_an_envelope_without_chunks_keeps_its_earlier_signing_input() -> None:
    plain = sample_envelope()
    assert encode(plain)[2:10] == fingerprint("envelope.v6")
    assert envelope_signing_input(decode(encode(plain), Envelope)).startswith(ENVELOPE_CONTEXT)


def test_a_v2_envelope_reads_through_v3_with_no_blob() -> None:
    plain = sample_envelope()
    schema = fastavro.parse_schema(json.loads(Path("schemas/avro/envelope.v2.avsc").read_text()))
    record = plain.model_dump()
    for p in [record["payload"], *record["attachments"]]:
        del p["blob"]
    body = io.BytesIO()
    fastavro.schemaless_writer(body, schema, record)
    raw = b"\xc3\x01" + fingerprint("envelope.v2") + body.getvalue()
    env = decode(raw, Envelope)
    assert env.payload.blob is None
    assert envelope_signing_input(env) == envelope_signing_input(plain)


def test_size_limits_per_payload_and_per_envelope() -> None:
    env = sample_envelope(payload=chunked())
    with pytest.raises(ContractError) as err:
        check_envelope(env, Limits(max_payload_bytes=len(CONTENT) - 1))
    assert err.value.reason is Reason.TOO_LARGE
    with pytest.raises(ContractError) as err:
        check_envelope(env, Limits(max_total_bytes=len(CONTENT)))
    assert err.value.reason is Reason.TOO_LARGE
    with pytest.raises(ContractError) as err:
        check_envelope(env, Limits(min_chunk_bytes=CHUNK + 1))
    assert err.value.reason is Reason.TOO_LARGE
