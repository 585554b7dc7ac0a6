from __future__ import annotations

import io

import pytest

from consumers.audit.core.archive import ARCHIVE_FORMAT, ArchiveReader, export_archive, verify_archive
from consumers.audit.core.errors import AuditError
from consumers.audit.core.sieve import Stored
from consumers.audit.core.verify import FaultKind
from tests.audit.conftest import AuditKey, Log, build_log


@pytest.fixture(scope="module")
def log(audit_key: AuditKey) -> Log:
    return build_log(50, (20, 50), audit_key)


def _export(records: list[Stored], checkpoints: list[bytes], codec: str = "null") -> bytes:
    out = io.BytesIO()
    export_archive(out, records, checkpoints, codec=codec)
    return out.getvalue()


@pytest.mark.parametrize("codec", ["null", "deflate"])
def test_export_import_keeps_exact_bytes_and_verifies(log: Log, audit_key: AuditKey, codec: str) -> None:
    data = _export(log.sealed, log.checkpoints, codec)
    reader = ArchiveReader(io.BytesIO(data))
    assert reader.checkpoints == log.checkpoints
    assert list(reader.records()) == log.records
    assert list(ArchiveReader(io.BytesIO(data)).sealed()) == log.sealed
    report = verify_archive(io.BytesIO(data), audit_key.keys)
    assert report.ok and (report.records, report.checkpoints) == (50, 2)


def test_a_byte_flipped_inside_the_file_is_found_at_its_record(log: Log, audit_key: AuditKey) -> None:
    data = bytearray(_export(log.sealed, log.checkpoints))
    k = 33
    at = bytes(data).index(log.records[k]) + len(log.records[k]) - 30
    data[at] ^= 0x04
    report = verify_archive(io.BytesIO(bytes(data)), audit_key.keys)
    assert report.fault is not None and report.fault.position == k


@pytest.mark.parametrize(
    ("edit", "kind", "position"),
    [
        (lambda r: r[:7] + r[8:], FaultKind.INDEX_GAP, 7),  # delete
        (lambda r: [*r[:7], r[8], r[7], *r[9:]], FaultKind.INDEX_SWAP, 7),  # swap
        (lambda r: r[:45], FaultKind.TRUNCATED, 45),  # truncate
    ],
)
def test_edited_exports(log: Log, audit_key: AuditKey, edit, kind: FaultKind, position: int) -> None:  # type: ignore[no-untyped-def]
    report = verify_archive(io.BytesIO(_export(edit(log.sealed), log.checkpoints)), audit_key.keys)
    assert report.fault is not None and (report.fault.kind, report.fault.position) == (kind, position)


def test_replaced_checkpoint_in_an_export(log: Log, audit_key: AuditKey) -> None:
    other = build_log(20, (20,), audit_key, variant=1000)
    data = _export(log.sealed, [other.checkpoints[0], log.checkpoints[1]])
    report = verify_archive(io.BytesIO(data), audit_key.keys)
    assert report.fault is not None
    assert (report.fault.kind, report.fault.position, report.fault.checkpoint) == (
        FaultKind.CHECKPOINT_ROOT,
        19,
        0,
    )


def test_damaged_container(log: Log, audit_key: AuditKey) -> None:
    data = bytearray(_export(log.sealed, log.checkpoints, "deflate"))
    data[len(data) // 2] ^= 0xFF  # inside a compressed block
    report = verify_archive(io.BytesIO(bytes(data)), audit_key.keys)
    assert not report.ok and report.fault is not None


def test_not_an_archive(audit_key: AuditKey) -> None:
    report = verify_archive(io.BytesIO(b"Obj\x01 nonsense"), audit_key.keys)
    assert report.fault is not None and (report.fault.kind, report.fault.position) == (FaultKind.DECODE, None)
    with pytest.raises(AuditError):
        ArchiveReader(io.BytesIO(b"not avro"))


def test_a_foreign_avro_file_is_refused(audit_key: AuditKey) -> None:
    import fastavro

    out = io.BytesIO()
    fastavro.writer(
        out, {"type": "record", "name": "X", "fields": [{"name": "a", "type": "int"}]}, [{"a": 1}]
    )
    with pytest.raises(AuditError, match="not a docbus audit archive"):
        ArchiveReader(io.BytesIO(out.getvalue()))
    assert ARCHIVE_FORMAT == "docbus-audit-archive/v1"
