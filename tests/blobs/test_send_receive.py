"""`docbus send` of a file larger than the inline threshold: chunks on docbus.blobs, checked by the
bus, reassembled and verified into the recipient's inbox folder; sent again, nothing is uploaded
or stored twice. (The benchmark sends 200 MB the same way and measures memory.)"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from schemas.connection import KafkaConnection
from schemas.topics import BLOBS_TOPIC
from tests.blobs.conftest import CHUNK, BlobBus
from tests.bus.kafka import end_offsets

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parents[2]


def docbus(b: BlobBus, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "docbus.cli", *args], cwd=REPO, env=b.env, capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip


def send(b: BlobBus, number: str, scan: Path, *attach: Path) -> str:
    extra = [a for p in attach for a in ("--attach", str(p))]
    sent = docbus(
        b, "send", "--org", "G03.U001", "--to", "G03.U002", "--number", number, "--notation", "ĐHSP-ĐT",
        "--subject", "V/v gửi hồ sơ tuyển sinh kèm phụ lục scan", "--file", str(scan), *extra,
        "--timeout", "90",
    )  # fmt: skip
    assert sent.returncode == 0, sent.stdout + sent.stderr + b.bus.log.read_text()[-3000:]
    assert "accepted by the bus" in sent.stdout
    match = re.search(r"message id\s+(\S+)", sent.stdout)
    assert match is not None
    return match[1]


async def test_a_large_scan_arrives_verified_and_is_stored_once(
    kafka_conn: KafkaConnection, blob_bus: BlobBus, tmp_path: Path
) -> None:
    scan = tmp_path / "phu-luc-scan.pdf"
    scan.write_bytes(b"%PDF-1.7\n" + os.urandom(3 * 1024 * 1024 + 123))  # 49 chunks of 64 KiB
    note = tmp_path / "danh-sach.csv"
    note.write_text("stt,ho ten\n1,Nguyễn Văn A\n", encoding="utf-8")  # small: travels inline
    mid = send(blob_bus, "21", scan, note)

    received = docbus(blob_bus, "inbox", "--org", "G03.U002")
    assert received.returncode == 0, received.stderr
    assert re.search(rf"document\s+{mid} from G03.U001", received.stdout), received.stdout
    inbox = blob_bus.home / "nodes" / "G03.U002" / "inbox"
    stored = inbox / mid / "files" / scan.name
    assert stored.read_bytes() == scan.read_bytes()
    assert (inbox / mid / "files" / note.name).read_bytes() == note.read_bytes()
    digest = hashlib.sha256(scan.read_bytes()).hexdigest()
    assert (inbox / "blobs" / digest).samefile(stored)
    meta = json.loads((inbox / mid / "meta.json").read_text(encoding="utf-8"))
    chunks = -(-scan.stat().st_size // CHUNK)
    assert [p["chunks"] for p in meta["payloads"]] == [chunks, 0]

    before = await end_offsets(kafka_conn, [BLOBS_TOPIC])
    again = send(blob_bus, "22", scan)  # the same file in another dispatch
    assert await end_offsets(kafka_conn, [BLOBS_TOPIC]) == before  # no chunk produced again
    assert docbus(blob_bus, "inbox", "--org", "G03.U002").returncode == 0
    second = inbox / again / "files" / scan.name
    assert second.samefile(stored) and stored.stat().st_nlink == 3  # one copy on disk


def test_a_large_scan_to_a_group_is_encrypted_and_every_member_opens_it(
    blob_bus: BlobBus, tmp_path: Path
) -> None:
    """all-universities resolved by the sender as the bus routes it: one copy of the chunks on
    docbus.blobs, a key wrap per member, each member's inbox decrypts it (ENVELOPE.md §7.4)."""
    scan = tmp_path / "ke-hoach-scan.pdf"
    scan.write_bytes(b"%PDF-1.7\n" + os.urandom(5 * CHUNK + 7))
    sent = docbus(
        blob_bus, "send", "--org", "H01", "--group", "all-universities", "--number", "31",
        "--notation", "SGD-KH", "--subject", "V/v kế hoạch tuyển sinh kèm phụ lục scan",
        "--file", str(scan), "--timeout", "90",
    )  # fmt: skip
    assert sent.returncode == 0 and "accepted by the bus" in sent.stdout, sent.stdout + sent.stderr
    match = re.search(r"message id\s+(\S+)", sent.stdout)
    assert match is not None
    for code in ("G03.U001", "G03.U002"):
        assert docbus(blob_bus, "inbox", "--org", code).returncode == 0
        folder = blob_bus.home / "nodes" / code / "inbox" / match[1]
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        assert meta["payloads"][0]["encrypted"] is True
        assert (folder / "files" / scan.name).read_bytes() == scan.read_bytes()
