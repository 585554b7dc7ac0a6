"""Submits through the HTTP gateway beside the CLI path, on the broker, in the same run:

- gateway: a `docbus gateway run` subprocess; a client posts small documents (2 KB PDF, files +
  header multipart, no wait for the bus) with ``concurrency`` requests in flight; submits per second
  from the first request to the last answer (each answer = signed, committed, acknowledged by Kafka);
- sender: the same work without HTTP, one long-lived ``Sender`` in this process (the gateway's ceiling);
- cli_send_document: ``send_document`` per document, a new connection each (what ``docbus send`` does
  after the interpreter started);
- cli_process: the real ``docbus send --no-wait`` command, interpreter start included.

No processor runs: what is measured ends at the broker's acknowledgement.

    python -m benchmarks.bench_gateway --bootstrap 127.0.0.1:29092 [--submits 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks._ceilings import ratio
from benchmarks._world import PASSPHRASE, PAYLOAD, BenchWorld, build_world
from docbus.directory_load import ensure_topics, publish_entries
from docbus.pki_folder import TrustFiles
from docbus.settings import connection_env
from producers.builder import DocumentDraft
from producers.send import Sender, send_document
from schemas.connection import KafkaConnection
from schemas.document import DocumentType
from schemas.payload import Payload
from tests.gateway.conftest import start_gateway

__all__ = ["run"]

SENDER, RECIPIENT = "G03", "H01"
REPO = Path(__file__).resolve().parents[1]


def _metadata(i: int) -> str:
    return json.dumps({"to": [RECIPIENT], "number": str(i), "notation": "BENCH-GW", "subject": f"V/v đo {i}"})


async def _gateway_rate(url: str, token: str, n: int, concurrency: int) -> float:
    limit = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:

        async def one(i: int) -> None:
            async with limit:
                files: dict[str, tuple[str | None, bytes | str, str]] = {
                    "metadata": (None, _metadata(i), "application/json"),
                    "file": ("vb.pdf", PAYLOAD, "application/pdf"),
                }
                r = await http.post(f"/v1/orgs/{SENDER}/documents", files=files)
                if r.status_code != 202:
                    raise RuntimeError(f"gateway submit {i}: {r.status_code} {r.text}")

        await asyncio.gather(*(one(-i) for i in range(1, 4)))  # warm up: connections, caches
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - started)


def _draft(i: int) -> DocumentDraft:
    return DocumentDraft(
        document_type=DocumentType.CONG_VAN, code_number=str(i), code_notation="BENCH-CLI",
        subject=f"V/v đo {i}", payload=Payload.of("vb.pdf", "application/pdf", PAYLOAD),
        recipients=[RECIPIENT],
    )  # fmt: skip


async def _sender_rates(kafka: KafkaConnection, world: BenchWorld, home: Path, n: int) -> tuple[float, float]:
    identity = world.identities[SENDER]
    policy = TrustFiles(world.pki).policy
    async with Sender(identity, kafka, home / "sender-state", watch=False, policy=policy) as sender:
        await sender.send(_draft(0))
        started = time.perf_counter()
        for i in range(n):
            await sender.send(_draft(i))
        long_lived = n / (time.perf_counter() - started)
    each = max(3, n // 10)
    started = time.perf_counter()
    for i in range(each):
        await send_document(identity, _draft(i), kafka=kafka, state_dir=home / "cli-state", policy=policy)
    return long_lived, each / (time.perf_counter() - started)


def _cli_rate(env: dict[str, str], home: Path, runs: int) -> float:
    doc = home / "vb.pdf"
    doc.write_bytes(PAYLOAD)
    started = time.perf_counter()
    for i in range(runs):
        done = subprocess.run(
            [sys.executable, "-m", "docbus.cli", "send", "--file", str(doc), "--org", SENDER,
             "--to", RECIPIENT, "--number", str(i + 1), "--notation", "BENCH-PROC", "--subject", "V/v đo",
             "--no-wait"],
            cwd=REPO, env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"docbus send: {done.stderr[-1000:]}")
    return runs / (time.perf_counter() - started)


async def measure(
    kafka: KafkaConnection, world: BenchWorld, home: Path, submits: int, cli_runs: int, concurrency: int
) -> dict[str, Any]:
    await ensure_topics(kafka, world.entries)
    await publish_entries(kafka, world.entries)
    env = {**os.environ, "DOCBUS_HOME": str(home), **connection_env(kafka), "DOCBUS_PKI_DIR": str(world.pki),
           "DOCBUS_PKI_PASSPHRASE": PASSPHRASE}  # fmt: skip
    gateway = await asyncio.to_thread(start_gateway, env, home, SENDER, "bench")
    try:
        token = await asyncio.to_thread(gateway.token)
        gateway_per_s = await _gateway_rate(gateway.url, token, submits, concurrency)
    finally:
        await asyncio.to_thread(gateway.stop)
    sender_per_s, send_document_per_s = await _sender_rates(kafka, world, home, submits)
    process_per_s = await asyncio.to_thread(_cli_rate, env, home, cli_runs)
    return {
        "what": "small document (2 KB PDF, files + header), signed official + seal, acknowledged by Kafka",
        "submits": submits,
        "concurrency": concurrency,
        "submit_per_s": round(gateway_per_s, 1),
        "sender_per_s": round(sender_per_s, 1),
        "ratio_to_sender": ratio(gateway_per_s, sender_per_s),
        "cli_send_document_per_s": round(send_document_per_s, 1),
        "cli_process_per_s": round(process_per_s, 2),
        "cli_process_runs": cli_runs,
    }


def run(kafka: KafkaConnection, submits: int, cli_runs: int, concurrency: int = 8) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        world = build_world(Path(tmp) / "pki", n_departments=5)
        return asyncio.run(measure(kafka, world, Path(tmp), submits, cli_runs, concurrency))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:29092")
    parser.add_argument("--submits", type=int, default=300)
    parser.add_argument("--cli-runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    kafka = KafkaConnection(bootstrap=args.bootstrap)
    print(json.dumps(run(kafka, args.submits, args.cli_runs, args.concurrency), indent=2))


if __name__ == "__main__":
    main()
