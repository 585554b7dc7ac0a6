"""`docbus audit verify` end to end: on the topic, on an export, and on tampered exports."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consumers.audit.core.archive import ArchiveReader, export_archive
from consumers.audit.core.chain import AuditChain
from consumers.audit.core.checkpoint import CheckpointSigner
from consumers.audit.core.events import draft
from consumers.audit.core.seal import SEAL_HEADER, RecordSealer
from consumers.audit.core.sieve import Stored
from consumers.audit.kafka.kafka_io import produce_all
from consumers.audit.kafka.service import AuditWriterService, load_signer
from schemas.algorithms import Algorithm
from schemas.audit import AuditEvent, Checkpoint
from schemas.codec import decode, encode
from schemas.connection import KafkaConnection
from tests.audit.conftest import make_key
from tests.audit_bus.conftest import AuditPki, AuditTestSettings, Writers, audit_topics, wait_values
from tests.audit_bus.scenario import cli, request_checkpoint
from tests.conftest import unique_names

pytestmark = pytest.mark.broker

T0 = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
N = 6


async def _log(settings: AuditTestSettings, start: Callable[[], AuditWriterService]) -> list[bytes]:
    start()
    items = [
        draft(AuditEvent.SUBMITTED, message_id=f"m-{i}", sender="G03.U001", at=T0 + timedelta(seconds=i))
        for i in range(N)
    ]
    await produce_all(
        settings.kafka, [(settings.audit_events_topic, k, v, []) for k, v in items], partition=0
    )
    return await request_checkpoint(settings, N)


@dataclass(frozen=True)
class Exported:
    settings: AuditTestSettings
    archive: Path  # `docbus audit export` of the log: N records and one checkpoint


@pytest.fixture(scope="module")
def exported(
    kafka_conn: KafkaConnection, audit_pki: AuditPki, tmp_path_factory: pytest.TempPathFactory
) -> Exported:
    """One audit log of N records and its checkpoint, written by a writer and exported once: each
    tampering test changes its own copy of the export."""

    async def write() -> AuditTestSettings:
        settings = await audit_topics(kafka_conn, unique_names(), audit_pki)
        writers = Writers(settings)
        try:
            await _log(settings, writers.start)
        finally:
            await writers.stop()
        return settings

    settings = asyncio.run(write())
    archive = tmp_path_factory.mktemp("audit-export") / "audit.avro"
    done = cli(settings, "audit", "export", "--out", str(archive))
    assert done.returncode == 0, done.stdout + done.stderr
    return Exported(settings, archive)


def _rewrite(src: Path, dst: Path, change: Callable[[list[Stored], list[bytes]], None]) -> None:
    with src.open("rb") as f:
        reader = ArchiveReader(f)
        records, checkpoints = list(reader.sealed()), list(reader.checkpoints)
    change(records, checkpoints)
    with dst.open("wb") as f:
        export_archive(f, records, checkpoints)


def _flip(records: list[Stored], _: list[bytes]) -> None:
    # one byte of the message id: the record still decodes, only the chain (and its seal) can tell
    assert records[2].data.count(b"m-2") == 1
    records[2] = Stored(records[2].data.replace(b"m-2", b"m-3"), records[2].seal)


def _swap(records: list[Stored], _: list[bytes]) -> None:
    records[3], records[4] = records[4], records[3]


def _foreign_checkpoint(records: list[Stored], checkpoints: list[bytes]) -> None:
    # a checkpoint over the same tree, signed by a key the PKI never issued for the audit log
    real = decode(checkpoints[0], Checkpoint)
    forger = make_key("not the audit key").signer
    assert isinstance(forger, CheckpointSigner) and forger.algorithm is Algorithm.ED25519
    checkpoints[0] = encode(forger.sign(real.tree_size, real.root_hash, real.last_hash, real.issued_at))


def test_verify_on_the_topic_and_on_its_export(exported: Exported) -> None:
    ok = cli(exported.settings, "audit", "verify")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"{N} records, 1 checkpoints verified" in ok.stdout and "not signed yet" not in ok.stdout
    good = cli(exported.settings, "audit", "verify", "--archive", str(exported.archive))
    assert good.returncode == 0, good.stdout + good.stderr


@pytest.mark.parametrize(
    ("change", "kind", "position"),
    [
        (_flip, "CHAIN_BROKEN", 2),
        (lambda r, c: r.pop(3), "INDEX_GAP", 3),
        (_swap, "INDEX_SWAP", 3),
        (lambda r, c: r.pop(), "TRUNCATED", N - 1),
        (_foreign_checkpoint, "CHECKPOINT_SIGNATURE", N - 1),
    ],
    ids=["flip-byte", "delete", "swap", "truncate", "foreign-checkpoint"],
)
def test_verify_names_the_fault_of_a_tampered_export(
    exported: Exported,
    tmp_path: Path,
    change: Callable[[list[bytes], list[bytes]], object],
    kind: str,
    position: int,
) -> None:
    tampered = tmp_path / "tampered.avro"
    _rewrite(exported.archive, tampered, change)  # type: ignore[arg-type]
    bad = cli(exported.settings, "audit", "verify", "--archive", str(tampered))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"FAULT {kind}" in bad.stdout and f"at position {position}" in bad.stdout, bad.stdout


async def test_verify_on_the_topic_names_a_record_from_a_second_writer(
    audit_settings: AuditTestSettings, running_writer: Callable[[], AuditWriterService]
) -> None:
    s = audit_settings
    await _log(s, running_writer)
    # the operator's on-demand checkpoint, signed by the writer running in this event loop
    asked = await asyncio.to_thread(cli, s, "audit", "checkpoint")
    assert asked.returncode == 0 and f"tree size {N}," in asked.stdout, asked.stdout + asked.stderr
    # a second writer (it holds the audit key) starting from scratch forks the chain: its sealed
    # record 0 lands at position N
    fork = AuditChain().append(AuditEvent.SUBMITTED, message_id="forged", sender="G03.U001", at=T0)
    seal = RecordSealer(load_signer(s.pki, s.passphrase)).seal(fork.hash, fork.hash)
    await produce_all(s.kafka, [(s.audit_topic, None, fork.stored, [(SEAL_HEADER, seal)])])
    bad = cli(s, "audit", "verify")
    assert bad.returncode == 1
    assert "FAULT INDEX_DUPLICATE" in bad.stdout and f"at position {N}" in bad.stdout, bad.stdout
    fault = json.loads(cli(s, "audit", "verify", "--json").stdout)
    assert (
        fault["ok"] is False
        and fault["fault"]["kind"] == "INDEX_DUPLICATE"
        and fault["fault"]["position"] == N
    )


async def test_verify_warns_about_records_no_checkpoint_covers_yet(
    audit_settings: AuditTestSettings, running_writer: Callable[[], AuditWriterService]
) -> None:
    s = audit_settings
    await _log(s, running_writer)
    late = draft(AuditEvent.SUBMITTED, message_id="late", sender="G03.U001", at=T0)
    await produce_all(s.kafka, [(s.audit_events_topic, *late, [])], partition=0)
    await wait_values(s.kafka, s.audit_topic, lambda v: len(v) == N + 1)
    ok = cli(s, "audit", "verify")
    assert ok.returncode == 0 and "1 record(s) after the newest checkpoint are not signed yet" in ok.stdout
    # the same report as one JSON document (docs/OPERATIONS.md, "JSON output")
    shown = cli(s, "audit", "verify", "--json")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    report = json.loads(shown.stdout)
    assert (report["ok"], report["records"], report["signed_records"], report["unsigned_tail"]) == (
        True,
        N + 1,
        N,
        1,
    )
    assert report["fault"] is None and report["foreign"] == [] and report["checkpoints"] >= 1
