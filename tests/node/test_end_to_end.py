"""A dispatch between two universities through the running bus (`docbus bus run` subprocess), with
the commands a clerk uses: send (waiting for the bus), inbox, receipt, status."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from docbus.directory_load import ensure_topics, publish_entries
from infra.pki import Authority
from producers.identity import NodeIdentity
from schemas.codec import decode
from schemas.connection import KafkaConnection
from schemas.envelope import Envelope
from schemas.receipt import StatusCode, is_receipt, parse_receipt
from schemas.topics import inbox_topic
from tests.bus.conftest import bus_env, start_bus
from tests.bus.kafka import BusProcess, end_offsets, read_until, start_group_at_end
from tests.bus.world import PASSPHRASE, World, build_world

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Dispatch:
    world: World
    bus: BusProcess
    env: dict[str, str]
    home: Path


@pytest.fixture(scope="module")
def dispatch(kafka_conn: KafkaConnection, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dispatch]:
    world = build_world(tmp_path_factory.mktemp("e2e") / "pki")
    ca = Authority(world.pki, PASSPHRASE.encode())
    ca.issue_official("G03.U001", "Trần Thị Bình", "Hiệu trưởng")
    ca.issue_official("G03.U002", "Lê Văn Cường", "Hiệu trưởng")
    asyncio.run(ensure_topics(kafka_conn, world.entries))
    asyncio.run(publish_entries(kafka_conn, world.entries))
    home = tmp_path_factory.mktemp("e2e-home")
    groups = [(f"docbus-inbox-{c}", c) for c in ("G03.U001", "G03.U002", "G03.U003")]
    for group, code in groups:  # the clients read what this test sends, not earlier sessions' mail
        asyncio.run(start_group_at_end(kafka_conn, group, [inbox_topic(code)]))
    bus = asyncio.run(start_bus(kafka_conn, world, home))
    env = {**os.environ, **bus_env(kafka_conn, world, home, "unused"), "COLUMNS": "240"}
    yield Dispatch(world, bus, env, home)
    bus.stop()


def docbus(d: Dispatch, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "docbus.cli", *args], cwd=REPO, env=d.env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


async def test_dispatch_between_two_universities(
    kafka_conn: KafkaConnection, dispatch: Dispatch, tmp_path: Path
) -> None:
    letter = tmp_path / "cong-van-15.pdf"
    letter.write_bytes(b"%PDF-1.7 Cong van phoi hop dao tao")
    status_start = await end_offsets(kafka_conn, ["docbus.status"])
    sent = docbus(
        dispatch, "send", "--org", "G03.U001", "--to", "G03.U002", "--to", "G03.U003",
        "--number", "15", "--notation", "ĐHSP-HTQT", "--subject", "V/v phối hợp đào tạo thạc sĩ",
        "--file", str(letter), "--timeout", "60",
    )  # fmt: skip
    assert sent.returncode == 0, sent.stdout + sent.stderr + dispatch.bus.log.read_text()[-3000:]
    assert "accepted by the bus" in sent.stdout
    match = re.search(r"message id\s+(\S+)", sent.stdout)
    assert match is not None
    mid = match[1]

    received = docbus(dispatch, "inbox", "--org", "G03.U002")
    assert received.returncode == 0, received.stderr
    assert re.search(rf"document\s+{mid} from G03.U001", received.stdout)
    stored = dispatch.home / "nodes" / "G03.U002" / "inbox" / mid
    assert (stored / "files" / "cong-van-15.pdf").read_bytes() == letter.read_bytes()

    clerk = docbus(dispatch, "receipt", mid, "--org", "G03.U002", "--status", "03", "--by", "Văn thư")
    assert clerk.returncode == 0, clerk.stderr

    def registered(records: list) -> bool:  # type: ignore[type-arg]
        return any(
            r.key == f"{mid}/G03.U002/03".encode() and parse_receipt(r.value).status is StatusCode.ACCEPTED
            for r in records
        )

    assert registered(await read_until(kafka_conn, status_start, registered, timeout=45))
    shown = docbus(dispatch, "status", mid, "--org", "G03.U001")  # the sender knows whom it addressed
    assert shown.returncode == 3, shown.stdout + shown.stderr  # anyone outstanding: not 0
    assert (
        "2 recipients: delivered 2, arrived 1, accepted 1, refused 0, processing 0, done 0, recalled 0; "
        "outstanding 2: G03.U002, G03.U003"
    ) in " ".join(shown.stdout.split()), shown.stdout
    rows = _status_json(dispatch, mid)
    assert rows["G03.U002"]["stage"] == "accepted" and rows["G03.U003"]["stage"] == "delivered"

    back = docbus(dispatch, "inbox", "--org", "G03.U001")
    assert back.returncode == 0, back.stderr
    assert re.search(rf"notice\s+\S+ from G03.BUS: 01 from G03.BUS for {mid}", back.stdout)
    assert re.search(rf"receipt\s+\S+ from G03.U002: 01 from G03.U002 for {mid}", back.stdout)
    assert re.search(rf"receipt\s+\S+ from G03.U002: 03 from G03.U002 for {mid}", back.stdout)

    # the sender asks to recall it (13); a recipient agrees (15); only the sender may ask
    refused = docbus(dispatch, "receipt", mid, "--org", "G03.U002", "--status", "13")
    assert refused.returncode == 1 and "13 is the sender's" in refused.stderr
    early = docbus(dispatch, "receipt", mid, "--org", "G03.U002", "--status", "15")
    assert early.returncode == 1 and "no recall (13)" in early.stderr
    inbox_start = await end_offsets(kafka_conn, [inbox_topic("G03.U002")])
    recall = docbus(dispatch, "receipt", mid, "--org", "G03.U001", "--status", "13", "--reason", "sai số")
    assert recall.returncode == 0, recall.stderr

    def forwarded(records: list) -> bool:  # type: ignore[type-arg]
        answers = [parse_receipt(r.value) for r in records if is_receipt(r.value)]
        return any(a.envelope_id == mid and a.status is StatusCode.RECALL_REQUESTED for a in answers)

    assert forwarded(await read_until(kafka_conn, inbox_start, forwarded, timeout=45))
    asked = docbus(dispatch, "inbox", "--org", "G03.U002")
    assert re.search(rf"receipt\s+\S+ from G03.U001: 13 from G03.U001 for {mid} \(sai số\)", asked.stdout)
    agreed = docbus(dispatch, "receipt", mid, "--org", "G03.U002", "--status", "15")
    assert agreed.returncode == 0, agreed.stderr

    def recalled(records: list) -> bool:  # type: ignore[type-arg]
        return any(
            r.key == f"{mid}/G03.U002/15".encode()
            and parse_receipt(r.value).status is StatusCode.RECALL_AGREED
            for r in records
        )

    assert recalled(await read_until(kafka_conn, status_start, recalled, timeout=45))
    # the recall keeps each recipient's history (before, every row showed 13 and counted as answered)
    rows = _status_json(dispatch, mid, exit_code=3)
    assert rows["G03.U002"]["stage"] == "recalled" and not rows["G03.U002"]["outstanding"]
    assert set(rows["G03.U002"]["receipts"]) == {"01", "03", "13", "15"}
    assert rows["G03.U003"]["stage"] == "recall asked" and set(rows["G03.U003"]["receipts"]) == {"13"}

    # G03.U003 receives it (01), refuses the recall (16), then refuses the document (02): settled
    assert docbus(dispatch, "inbox", "--org", "G03.U003").returncode == 0
    answers = (("--status", "16", "--reason", "đã xử lý"), ("--status", "02", "--reason", "sai thẩm quyền"))
    for answer in answers:
        sent_answer = docbus(dispatch, "receipt", mid, "--org", "G03.U003", *answer)
        assert sent_answer.returncode == 0, sent_answer.stderr

    def refused_by_u003(records: list) -> bool:  # type: ignore[type-arg]
        return any(r.key == f"{mid}/G03.U003/02".encode() for r in records)

    assert refused_by_u003(await read_until(kafka_conn, status_start, refused_by_u003, timeout=45))
    rows = _status_json(dispatch, mid, exit_code=0)  # nobody outstanding: exit 0
    assert rows["G03.U003"]["stage"] == "refused"
    assert set(rows["G03.U003"]["receipts"]) == {"01", "02", "13", "16"}
    final = docbus(dispatch, "status", mid)
    assert final.returncode == 0 and "outstanding 0" in final.stdout, final.stdout + final.stderr


def _status_json(d: Dispatch, mid: str, exit_code: int = 3) -> dict[str, dict[str, Any]]:
    shown = docbus(d, "status", mid, "--json")
    assert shown.returncode == exit_code, shown.stdout + shown.stderr
    document = json.loads(shown.stdout)
    assert document["ignored"] == [] and document["counts"]["recipients"] == 2
    return {r["recipient"]: r for r in document["recipients"]}


async def test_a_node_takes_its_name_from_the_directory_not_its_certificate(
    kafka_conn: KafkaConnection, dispatch: Dispatch, tmp_path: Path
) -> None:
    """The seal certificate of G03.U001 names it otherwise than the signed directory does (a CA's
    spelling, "Tổ chức G03.U001"): ``docbus send`` signs ``sender.name`` as the directory states it
    and the bus, which refuses any other name (SENDER_NAME), delivers it."""
    pki = tmp_path / "pki"
    shutil.copytree(dispatch.world.pki, pki)
    Authority(pki, PASSPHRASE.encode()).issue_org("G03.U001", "Tổ chức G03.U001")
    assert NodeIdentity.from_pki(pki, "G03.U001", PASSPHRASE).org_name == "Tổ chức G03.U001"
    letter = tmp_path / "cv.pdf"
    letter.write_bytes(b"%PDF-1.7 ten theo danh ba")
    start = await end_offsets(kafka_conn, [inbox_topic("G03.U002")])
    elsewhere = dataclasses.replace(dispatch, env={**dispatch.env, "DOCBUS_PKI_DIR": str(pki)})
    sent = docbus(
        elsewhere, "send", "--org", "G03.U001", "--to", "G03.U002", "--number", str(uuid.uuid4().int % 10**9),
        "--notation", "ĐHSP-TEN", "--subject", "V/v tên đơn vị", "--file", str(letter), "--timeout", "60",
    )  # fmt: skip
    assert sent.returncode == 0 and "accepted by the bus" in sent.stdout, sent.stdout + sent.stderr
    mid = re.search(r"message id\s+(\S+)", sent.stdout)
    assert mid is not None

    def copy(records: list) -> list[Envelope]:  # type: ignore[type-arg]
        return [decode(r.value, Envelope) for r in records if r.key == mid[1].encode()]

    got = copy(await read_until(kafka_conn, start, lambda rs: bool(copy(rs)), timeout=45))
    assert got[0].sender.name == "Trường Đại học Sư phạm Hà Nội"


async def test_status_shows_04_as_processing_and_05_and_06_as_done(
    kafka_conn: KafkaConnection, dispatch: Dispatch, tmp_path: Path
) -> None:
    """Issue 13's reading of the status codes, on the real bus: after 04 the recipient is
    processing and outstanding (exit 3); after 05 it is done and nobody is outstanding (exit 0); a 06
    after the 05 is still done, its time shown."""
    letter = tmp_path / "cv.pdf"
    letter.write_bytes(b"%PDF-1.7 xu ly")
    sent = docbus(
        dispatch, "send", "--org", "G03.U001", "--to", "G03.U002", "--number", str(uuid.uuid4().int % 10**9),
        "--notation", "ĐHSP-XL", "--subject", "V/v xử lý", "--file", str(letter), "--timeout", "60",
    )  # fmt: skip
    assert sent.returncode == 0, sent.stdout + sent.stderr
    mid = re.search(r"message id\s+(\S+)", sent.stdout)
    assert mid is not None
    assert docbus(dispatch, "inbox", "--org", "G03.U002").returncode == 0
    status_start = await end_offsets(kafka_conn, ["docbus.status"])

    async def answer(code: str) -> tuple[int, dict[str, Any], dict[str, Any]]:
        given = docbus(dispatch, "receipt", mid[1], "--org", "G03.U002", "--status", code)
        assert given.returncode == 0, given.stdout + given.stderr
        key = f"{mid[1]}/G03.U002/{code}".encode()
        await read_until(kafka_conn, status_start, lambda rs: any(r.key == key for r in rs), timeout=45)
        shown = docbus(dispatch, "status", mid[1], "--json")
        document = json.loads(shown.stdout)
        return shown.returncode, document["counts"], document["recipients"][0]

    await answer("03")
    code, counts, row = await answer("04")
    assert (code, row["stage"], row["outstanding"], counts["processing"]) == (3, "processing", True, 1)
    code, counts, row = await answer("05")
    assert (code, row["stage"], row["outstanding"]) == (0, "done", False)
    assert (counts["done"], counts["processing"]) == (1, 0)
    code, counts, row = await answer("06")
    assert (code, row["stage"], counts["done"]) == (0, "done", 1) and {"05", "06"} <= set(row["receipts"])
