"""Encrypted chunks (docs/ENVELOPE.md §7.4): the content, document and wrapping keys, the v2 chunk
record, the v4 signing input, and every bad key or chunk a recipient can meet, each with its reason."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import fastavro
import pytest

from infra.pki import Authority
from producers.blob_keys import seal_envelope
from producers.identity import EncryptionKey, NodeIdentity
from schemas.blob import BlobAssembly, BlobRef, ChunkRef, SealedBlob, decode_chunk, encode_chunk
from schemas.blob_crypto import (
    TAG_BYTES,
    blob_id,
    certificate_fingerprint,
    decrypt_chunk,
    encrypt_chunk,
    encryption_public_key,
    ephemeral_point,
    new_ephemeral,
)
from schemas.canonical import ENVELOPE_V3_CONTEXT, ENVELOPE_V4_CONTEXT, envelope_signing_input
from schemas.codec import MARKER, decode, encode, fingerprint, schema_entries
from schemas.directory import DirectoryEntry, OrgKind, directory_entry_signing_input
from schemas.directory_store import DirectorySnapshot
from schemas.envelope import Envelope, check_envelope
from schemas.errors import ContractError
from schemas.payload import Payload
from schemas.reasons import Reason
from tests.schemas.samples import sample_envelope

CHUNK = 4096
CONTENT = os.urandom(2 * CHUNK + 100)  # 3 chunks, the last short
DIGEST = hashlib.sha256(CONTENT).digest()
PIECES = [CONTENT[i : i + CHUNK] for i in range(0, len(CONTENT), CHUNK)]
KEY = os.urandom(32)
ID = blob_id(KEY)
CIPHER = [encrypt_chunk(KEY, DIGEST, i, p) for i, p in enumerate(PIECES)]
RECORDS = [encode_chunk(ID, len(CONTENT), i, c, version=2) for i, c in enumerate(CIPHER)]
REF = BlobRef(
    chunk_size=CHUNK,
    partition=1,
    chunks=[ChunkRef(sha256=hashlib.sha256(c).digest(), offset=5 + i) for i, c in enumerate(CIPHER)],
    sealed=SealedBlob(id=ID),
)
PASSPHRASE = b"test-passphrase"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("enc-pki") / "pki"
    ca = Authority.init(folder, PASSPHRASE)
    for code in ("G03", "H01", "H02", "H03"):
        ca.issue_org(code, f"Tổ chức {code}")
    ca.issue_official("G03", "Cán bộ G03", "Chánh Văn phòng")
    return folder


def _key(pki: Path, code: str) -> EncryptionKey:
    key = NodeIdentity.from_pki(pki, code, PASSPHRASE.decode()).encryption
    assert key is not None
    return key


def _snapshot(pki: Path, *, without: str | None = None) -> DirectorySnapshot:
    def entry(code: str, kind: OrgKind, **extra: object) -> DirectoryEntry:
        cert = None if code in (without, "H64") else _key(pki, code).certificate  # H64 is closed
        return DirectoryEntry.model_validate(
            {"code": code, "name": f"Tổ chức {code}", "kind": kind, "version": 1,
             "updated_at": "2025-01-01T00:00:00Z", "encryption_certificate": cert, **extra}
        )  # fmt: skip

    dept = OrgKind.DEPARTMENT
    closed = {"status": "closed", "successor": "H01"}
    return DirectorySnapshot.build(
        [entry("G03", OrgKind.MINISTRY), entry("H01", dept), entry("H02", dept), entry("H03", dept),
         entry("H64", dept, **closed)]
    )  # fmt: skip


def _sealed_envelope(**changes: object) -> Envelope:
    payload = Payload(
        file_name="scan.pdf",
        content_type="application/pdf",
        size=len(CONTENT),
        sha256=DIGEST,
        data=b"",
        blob=REF,
    )
    return sample_envelope(
        payload=payload, attachments=[], recipients=["H64"], groups=["all-departments"], **changes
    )


def _recipient_assembly(key: bytes = KEY) -> BlobAssembly:
    return BlobAssembly(DIGEST, len(CONTENT), REF, key)


def test_chunk_v2_record_is_the_avro_single_object_encoding() -> None:
    schema = fastavro.parse_schema(json.loads(Path("schemas/avro/blob_chunk.v2.avsc").read_text()))
    body = io.BytesIO()
    record = {"blob": ID, "size": len(CONTENT), "index": 1, "sha256": hashlib.sha256(CIPHER[1]).digest()}
    fastavro.schemaless_writer(body, schema, {**record, "data": CIPHER[1]})
    assert RECORDS[1] == MARKER + fingerprint("blob_chunk.v2") + body.getvalue()
    back = decode_chunk(RECORDS[1])
    assert back.version == 2 and back.content == ID and bytes(back.data) == CIPHER[1]
    assert len(CIPHER[1]) == CHUNK + TAG_BYTES and CIPHER[1][:CHUNK] != PIECES[1]


def test_the_blob_id_names_neither_the_content_nor_the_key() -> None:
    assert ID not in (DIGEST, KEY, hashlib.sha256(KEY).digest())
    assert all(DIGEST not in r for r in RECORDS)  # a reader of docbus.blobs cannot confirm a guess


def test_the_bus_checks_the_signed_ciphertext_without_the_key() -> None:
    asm = BlobAssembly(DIGEST, len(CONTENT), REF)
    assert [bytes(asm.accept(r)) for r in RECORDS] == CIPHER
    asm.finish()


def test_the_recipient_decrypts_while_streaming_and_checks_the_plaintext() -> None:
    asm = _recipient_assembly()
    assert b"".join(bytes(asm.accept(r)) for r in RECORDS) == CONTENT
    asm.finish()


def test_a_resumed_recipient_encrypts_its_stored_plaintext_again_to_check_it() -> None:
    asm = _recipient_assembly()
    asm.resume(PIECES[0])
    with pytest.raises(ContractError) as err:
        asm.resume(b"x" * CHUNK)
    assert err.value.reason is Reason.BLOB_MISMATCH
    assert bytes(asm.accept(RECORDS[1])) == PIECES[1]


def test_a_chunk_under_another_key_does_not_decrypt() -> None:
    other = os.urandom(32)
    forged = encrypt_chunk(other, DIGEST, 0, PIECES[0])  # the sender signed ciphertext of another key
    ref = REF.model_copy(
        update={"chunks": [ChunkRef(sha256=hashlib.sha256(forged).digest(), offset=5), *REF.chunks[1:]]}
    )
    asm = BlobAssembly(DIGEST, len(CONTENT), ref, KEY)
    with pytest.raises(ContractError) as err:
        asm.accept(encode_chunk(ID, len(CONTENT), 0, forged, version=2))
    assert err.value.reason is Reason.BLOB_UNDECRYPTABLE


def test_chunks_swapped_in_place_do_not_decrypt_even_with_their_digests_resigned() -> None:
    with pytest.raises(ContractError) as err:
        decrypt_chunk(KEY, DIGEST, 1, CIPHER[0])  # the aad binds the index
    assert err.value.reason is Reason.BLOB_UNDECRYPTABLE
    with pytest.raises(ContractError):
        decrypt_chunk(KEY, hashlib.sha256(b"other").digest(), 0, CIPHER[0])  # and the content


@pytest.mark.parametrize("bad", ["v1 record", "other id", "tampered"])
def test_a_wrong_record_for_a_sealed_blob_is_a_mismatch(bad: str) -> None:
    record = {
        "v1 record": encode_chunk(DIGEST, len(CONTENT), 0, CIPHER[0]),
        "other id": encode_chunk(os.urandom(32), len(CONTENT), 0, CIPHER[0], version=2),
        "tampered": encode_chunk(ID, len(CONTENT), 0, bytes([CIPHER[0][0] ^ 1]) + CIPHER[0][1:], version=2),
    }[bad]
    with pytest.raises(ContractError) as err:
        BlobAssembly(DIGEST, len(CONTENT), REF).accept(record)
    assert err.value.reason is Reason.BLOB_MISMATCH


def test_a_sealed_envelope_is_wrapped_to_every_resolved_recipient_and_signed_under_v4(pki: Path) -> None:
    from consumers.inbox.blobs import content_keys

    snap = _snapshot(pki)
    env = seal_envelope(_sealed_envelope(), snap, {ID: KEY})
    check_envelope(env)
    assert env.keys is not None
    # H64 is closed into H01; all-departments reaches H01..H03 (the sender G03 is not a department)
    assert [w.recipient for w in env.keys.wraps] == ["H01", "H02", "H03"]
    assert envelope_signing_input(env).startswith(ENVELOPE_V4_CONTEXT)
    back = decode(encode(env), Envelope)
    assert back == env
    for code in ("H01", "H02", "H03"):
        assert content_keys(back, code, _key(pki, code)) == {ID: KEY}
    with pytest.raises(ContractError) as err:
        content_keys(back, "G03", _key(pki, "G03"))  # not addressed: no wrap for it
    assert err.value.reason is Reason.KEY_MISSING
    with pytest.raises(ContractError) as err:
        content_keys(back, "H02", _key(pki, "H01"))  # H01's key does not open H02's wrap
    assert err.value.reason is Reason.KEY_MISSING  # a wrap for another certificate is said so


def test_every_wrap_is_covered_by_the_signature(pki: Path) -> None:
    env = seal_envelope(_sealed_envelope(), _snapshot(pki), {ID: KEY})
    assert env.keys is not None
    signed = envelope_signing_input(env)
    wraps = list(env.keys.wraps)
    wraps[0] = wraps[0].model_copy(update={"key": bytes(40)})
    assert (
        envelope_signing_input(env.model_copy(update={"keys": env.keys.model_copy(update={"wraps": wraps})}))
        != signed
    )
    stripped = env.model_copy(update={"keys": env.keys.model_copy(update={"wraps": wraps[1:]})})
    assert envelope_signing_input(stripped) != signed


def test_a_tampered_wrap_or_ephemeral_key_is_key_invalid(pki: Path) -> None:
    from consumers.inbox.blobs import content_keys

    env = seal_envelope(_sealed_envelope(), _snapshot(pki), {ID: KEY})
    assert env.keys is not None
    wraps = [w.model_copy(update={"key": bytes([w.key[0] ^ 1]) + w.key[1:]}) for w in env.keys.wraps]
    bad_wrap = env.model_copy(update={"keys": env.keys.model_copy(update={"wraps": wraps})})
    bad_point = env.model_copy(
        update={"keys": env.keys.model_copy(update={"ephemeral": ephemeral_point(new_ephemeral())})}
    )
    for bad in (bad_wrap, bad_point):
        with pytest.raises(ContractError) as err:
            content_keys(bad, "H01", _key(pki, "H01"))
        assert err.value.reason is Reason.KEY_INVALID


def test_the_sender_refuses_a_recipient_without_an_encryption_certificate(pki: Path) -> None:
    with pytest.raises(ContractError) as err:
        seal_envelope(_sealed_envelope(), _snapshot(pki, without="H02"), {ID: KEY})
    assert err.value.reason is Reason.KEY_MISSING and "H02" in err.value.detail
    with pytest.raises(ContractError) as err:
        seal_envelope(_sealed_envelope(), _snapshot(pki), {})  # a content key this sender does not hold
    assert err.value.reason is Reason.KEY_MISSING


def test_sealed_blobs_and_keys_come_together() -> None:
    unwrapped = _sealed_envelope()
    with pytest.raises(ContractError) as err:
        check_envelope(unwrapped)  # an empty wrapped key and no document keys is never signed
    assert err.value.reason is Reason.INVALID_FIELD


def test_the_bus_refuses_a_recipient_it_routes_to_without_a_wrap(pki: Path) -> None:
    from consumers.bus.decide.attachments import check_key_wraps

    snap = _snapshot(pki)
    env = seal_envelope(_sealed_envelope(), snap, {ID: KEY})
    check_key_wraps(env, ("H01", "H02", "H03"), snap)
    with pytest.raises(ContractError) as err:
        check_key_wraps(env, ("H01", "H02", "H03", "G03"), snap)
    assert err.value.reason is Reason.KEY_MISSING and "G03" in err.value.detail
    with pytest.raises(ContractError) as err:  # the directory lists another key for H02 now
        check_key_wraps(env, ("H02",), _snapshot(pki, without="H02"))
    assert err.value.reason is Reason.KEY_MISSING


def test_an_encryption_certificate_agrees_keys_and_never_signs(pki: Path) -> None:
    cert = _key(pki, "H01").certificate
    encryption_public_key(cert)
    from cryptography import x509

    usage = x509.load_der_x509_certificate(cert).extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_agreement and not usage.digital_signature and not usage.content_commitment
    seal = NodeIdentity.from_pki(pki, "H01", PASSPHRASE.decode()).seal.chain[0]
    with pytest.raises(ContractError) as err:
        encryption_public_key(seal)  # a seal certificate is for signing only
    assert err.value.reason is Reason.KEY_MISSING


def test_a_v5_envelope_reads_as_v6_without_keys_and_the_same_signing_input() -> None:
    v5 = next(e for e in schema_entries() if e.name == "envelope.v5")
    env = sample_envelope()
    body = io.BytesIO()
    record = env.model_dump()
    del record["keys"]
    fastavro.schemaless_writer(body, v5.parsed, record)
    back = decode(MARKER + v5.fingerprint + body.getvalue(), Envelope)
    assert back.keys is None and envelope_signing_input(back) == envelope_signing_input(env)
    assert encode(back)[2:10] == fingerprint("envelope.v6")


def test_a_plaintext_chunked_envelope_keeps_the_v3_input() -> None:
    plain_ref = REF.model_copy(update={"sealed": None})
    payload = Payload(
        file_name="a.pdf",
        content_type="application/pdf",
        size=len(CONTENT),
        sha256=DIGEST,
        data=b"",
        blob=plain_ref,
    )
    assert envelope_signing_input(sample_envelope(payload=payload)).startswith(ENVELOPE_V3_CONTEXT)


def test_a_v1_directory_entry_reads_as_v2_and_signs_the_v1_input(pki: Path) -> None:
    v1 = next(e for e in schema_entries() if e.name == "directory_entry.v1")
    entry = DirectoryEntry.model_validate(
        {
            "code": "H01",
            "name": "Sở",
            "kind": "department",
            "version": 1,
            "updated_at": "2025-01-01T00:00:00Z",
        }
    )
    body = io.BytesIO()
    record = entry.model_dump()
    del record["encryption_certificate"]
    fastavro.schemaless_writer(body, v1.parsed, record)
    back = decode(MARKER + v1.fingerprint + body.getvalue(), DirectoryEntry)
    assert back.encryption_certificate is None
    assert directory_entry_signing_input(back).startswith(b"docbus/directory-entry/v1\n")
    cert = _key(pki, "H01").certificate
    listed = entry.model_copy(update={"encryption_certificate": cert})
    signed = directory_entry_signing_input(listed)
    assert signed.startswith(b"docbus/directory-entry/v2\n") and signed.endswith(cert)
    assert decode(encode(listed), DirectoryEntry) == listed
    assert certificate_fingerprint(cert) == hashlib.sha256(cert).digest()


# Fixed vectors (docs/ENVELOPE.md §7.4, "Vectors"): a change of nonce, aad, HKDF info or key wrap
# layout would make every chunk and wrap already on docbus.blobs unreadable, so it must fail here.
V_K, V_D = bytes(range(32)), bytes(range(32, 64))
V_H = hashlib.sha256(b"docbus").digest()
V_MESSAGE_ID = "0199a0b2-7c3e-7d41-8a2b-3c4d5e6f7a8b"
V_FINGERPRINT = hashlib.sha256(b"encryption certificate of H01").digest()


def test_fixed_vectors_of_the_chunk_cipher_the_blob_id_and_the_content_key_wrap() -> None:
    from schemas.blob_crypto import wrap_content_key

    assert blob_id(V_K).hex() == "d72aef9a2fc7009707622dc8c55321c5bc3b070bdcca54a44dd70f595140af32"
    chunk = encrypt_chunk(V_K, V_H, 1, b"scanned page 2")
    assert chunk.hex() == "66b5de922a91543e7e4f365ccc9427e3044c059160e010ae900b6224019f"
    assert decrypt_chunk(V_K, V_H, 1, chunk) == b"scanned page 2"
    wrapped = wrap_content_key(V_D, V_K)
    assert wrapped.hex() == "c1a9bb689aeab408aa5250b5fa27911a34d09cf2c3c5db0f1a54c6bc2773a21dfe64e0c6d7be9352"


def test_fixed_vector_of_a_recipient_wrap_opens_with_the_recipient_key() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from schemas.blob_crypto import unwrap_document_key

    ephemeral = ephemeral_point(ec.derive_private_key(0x1111, ec.SECP256R1()))
    recipient = ec.derive_private_key(0x2222, ec.SECP256R1())
    wrapped = bytes.fromhex(
        "e4e8d517193a861e8c33a79012bd4f663e95b87482430b121aa4a9f5ec020c0c060a97ceab41d771"
    )
    assert unwrap_document_key(wrapped, recipient, ephemeral, V_FINGERPRINT, V_MESSAGE_ID, "H01") == V_D
    with pytest.raises(ContractError) as err:  # the info names the recipient: another code does not open it
        unwrap_document_key(wrapped, recipient, ephemeral, V_FINGERPRINT, V_MESSAGE_ID, "H02")
    assert err.value.reason is Reason.KEY_INVALID
