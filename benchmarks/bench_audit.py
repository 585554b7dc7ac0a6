"""Audit verification rate beside the raw SHA-256 hash-chain rate, measured in the same run, and
the replay rate: selecting an org's envelopes from the log (and, with a broker, reading the log).

Not a test. Prints one JSON object.
``python benchmarks/bench_audit.py [records] [--bootstrap HOST:PORT]``: with ``--bootstrap`` the
records are also produced to a fresh one-partition topic and read back as ``docbus audit replay``
reads docbus.audit (the topic is deleted afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script, too

from benchmarks._ceilings import rate_over as rate
from consumers.audit.core.chain import AuditChain
from consumers.audit.core.checkpoint import CheckpointSigner, key_id_for
from consumers.audit.core.merkle import MerkleTree
from consumers.audit.core.verify import verify_log
from consumers.audit.core.writer import AuditWriter, CheckpointPolicy
from consumers.audit.kafka.kafka_io import open_producer, read_values
from consumers.audit.kafka.logview import LogView
from consumers.audit.kafka.replay import plan_replay
from schemas.algorithms import Algorithm
from schemas.audit import AuditEvent, SourcePosition
from schemas.codec import encode
from schemas.connection import KafkaConnection

T0 = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
EVENTS = [AuditEvent.SUBMITTED, AuditEvent.ACCEPTED, AuditEvent.ROUTED, AuditEvent.DELIVERED]


def build(n: int) -> tuple[list[bytes], list[bytes]]:
    chain = AuditChain()
    records, hashes = [], []
    for i in range(n):
        event = EVENTS[i % 4]
        appended = chain.append(
            event,
            at=T0 + timedelta(milliseconds=i),
            message_id=f"5f0c9a4e-1c2d-4e5f-8a9b-{i // 4:012x}",
            document_id="000.00.00.G03,2026/03/02,7816/BGDĐT-VP",
            sender="000.00.00.G03",
            recipient="000.00.00.H41" if event in (AuditEvent.ROUTED, AuditEvent.DELIVERED) else None,
            stored_hash=hashlib.sha256(i.to_bytes(8, "big")).digest(),
            source=SourcePosition(topic="docbus.ingress", partition=i % 6, offset=i // 6),
        )
        records.append(appended.stored)
        hashes.append(appended.hash)
    return records, hashes


ORG = "000.00.00.H41"


def select(stored: list[bytes]) -> int:
    """What replay does after reading: decode every record, pick the org's ROUTED ones."""
    routed = LogView(stored, []).matching(event="ROUTED", recipient=ORG)
    return len(plan_replay(routed, ORG, T0, T0 + timedelta(days=1), set()))


async def kafka_rates(kafka: KafkaConnection, records: list[bytes]) -> dict[str, float]:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    topic = f"bench.audit.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
        async with open_producer(kafka) as producer:
            futures = [await producer.send(topic, data) for data in records]
            await asyncio.gather(*futures)
        start = time.perf_counter()
        stored = await read_values(kafka, topic)
        read_s = time.perf_counter() - start
        assert stored == records
        selected = select(stored)
        both_s = time.perf_counter() - start
        assert selected == len(records) // 4
        return {
            "replay_read_topic_per_s": len(records) / read_s,
            "replay_read_and_select_per_s": len(records) / both_s,
        }
    finally:
        await admin.delete_topics([topic])
        await admin.close()


def _rebuild(records: list[bytes], checkpoints: list[bytes], signer: CheckpointSigner) -> AuditWriter:
    writer = AuditWriter.rebuild(records, checkpoints, signer)
    assert not writer.foreign and writer.size == len(records), "the writer's own records read as foreign"
    return writer


def _certificate(key: ed25519.Ed25519PrivateKey) -> bytes:
    """A self-signed stand-in for the audit certificate: the writer seals with its key."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "benchmark audit key")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(T0 - timedelta(days=1))
        .not_valid_after(T0 + timedelta(days=365))
        .sign(key, None)
    )
    return cert.public_bytes(Encoding.DER)


def measure(n: int, kafka: KafkaConnection | None = None) -> dict[str, Any]:
    records, hashes = build(n)
    key = ed25519.Ed25519PrivateKey.generate()
    signer = CheckpointSigner(key.sign, Algorithm.ED25519, (_certificate(key),), key_id_for(key.public_key()))
    keys = {signer.key_id: key.public_key()}
    tree = MerkleTree()
    tree.extend(hashes)
    checkpoint = encode(signer.sign(n, tree.root(), hashes[-1], T0 + timedelta(hours=1)))
    # the writer's rebuild reads the checkpoints as the writer signs them (every CheckpointPolicy's
    # records): the records here carry no seals, and the one end checkpoint alone would leave more
    # than the sieve holds back unconfirmed, to be seal-checked and listed as foreign one by one
    every = CheckpointPolicy().every
    written = [
        encode(signer.sign(k, tree.root(k), hashes[k - 1], T0 + timedelta(hours=1)))
        for k in [*range(every, n, every), n]
    ]
    mean_len = sum(map(len, records)) / n

    def raw_chain() -> bytes:
        sha256, h = hashlib.sha256, bytes(32)
        for data in records:  # the floor: one SHA-256 over 32 B + the record per step
            h = sha256(h + data).digest()
        return h

    def walk(checkpoints: list[bytes], decode: bool) -> Callable[[], object]:
        def run() -> object:
            report = verify_log(records, checkpoints, keys, decode=decode)
            assert report.ok, report.fault
            return report

        return run

    raw = rate(n, raw_chain, repeats=5)
    chain_walk = rate(n, walk([], False), repeats=5)
    with_root = rate(n, walk([checkpoint], False), repeats=5)
    full = rate(n, walk([checkpoint], True))
    selection = rate(n, lambda: select(records), repeats=3)
    rebuild = rate(n, lambda: _rebuild(records, written, signer), repeats=3)
    on_kafka = asyncio.run(kafka_rates(kafka, records)) if kafka else {}
    result = {
        "records": n,
        "mean_record_bytes": round(mean_len, 1),
        "raw_sha256_chain_per_s": round(raw),
        "chain_walk_per_s": round(chain_walk),
        "chain_walk_ratio": round(chain_walk / raw, 3),
        "chain_and_merkle_root_per_s": round(with_root),
        "chain_and_merkle_root_ratio": round(with_root / raw, 3),
        "full_verify_with_avro_decode_per_s": round(full),
        "full_verify_ratio": round(full / raw, 3),
        "replay_select_per_s": round(selection),
        "replay_select_ratio": round(selection / raw, 4),
        **{k: round(v) for k, v in on_kafka.items()},
        "writer_rebuild_per_s": round(rebuild),
        "python": sys.version.split()[0],
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("records", type=int, nargs="?", default=200_000)
    parser.add_argument("--bootstrap", help="a broker to measure reading the log from Kafka")
    args = parser.parse_args()
    kafka = KafkaConnection(bootstrap=args.bootstrap) if args.bootstrap else None
    print(json.dumps(measure(args.records, kafka), indent=2))


if __name__ == "__main__":
    main()
