"""An org whose encryption key is on its PKCS#11 token (SoftHSM2; docs/adr/0004, docs/NODE.md):
`docbus pki issue-encryption --token` certifies the token's P-256 key (no key file is left), the
directory lists that certificate, a sender's large appendix is wrapped to it, and `docbus inbox
--encryption-token` opens the wrap through the token (ECDH on the token) and stores the appendix
verified, on the real bus and the secured test broker."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from docbus.directory_load import ensure_topics, publish_entries, seal_entries
from docbus.pki_folder import with_encryption_certificates
from docbus.sector import build_sector
from infra.pki import Authority
from schemas.blob_crypto import certificate_fingerprint
from schemas.connection import KafkaConnection
from schemas.envelope import parse_envelope
from schemas.topics import INGRESS_TOPIC, RECEIPTS_TOPIC, inbox_topic
from tests.blobs.conftest import BLOB_WAIT, CHUNK
from tests.bus.conftest import bus_env
from tests.bus.kafka import BusProcess, start_group_at_end
from tests.bus.world import DEPARTMENTS, PASSPHRASE, UNIVERSITIES, build_world
from tests.softhsm import make_token

pytestmark = [pytest.mark.broker, pytest.mark.softhsm]
REPO = Path(__file__).resolve().parents[2]
LABEL, PIN, KEY = "docbus-enc", "314159", "encryption"
SENDER, RECIPIENT = "G03.U001", "G03.U002"
DER = Encoding.DER


@dataclass(frozen=True)
class TokenBus:
    pki: Path
    home: Path
    env: dict[str, str]
    pin_file: Path
    bus: BusProcess

    def docbus(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "docbus.cli", *args], cwd=REPO, env={**self.env, **env},
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip


@pytest.fixture(scope="module")
def token_bus(kafka_conn: KafkaConnection, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenBus]:
    root = tmp_path_factory.mktemp("token-encryption")
    world = build_world(root / "pki")
    Authority(world.pki, PASSPHRASE.encode()).issue_official(SENDER, "Trần Thị Bình", "Hiệu trưởng")
    pin_file = root / "pin"
    pin_file.write_text(f"{PIN}\n")
    home = root / "home"
    home.mkdir()
    app_id = f"docbus-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ, **bus_env(kafka_conn, world, home, app_id), "COLUMNS": "240",
        "DOCBUS_BLOB_WAIT": BLOB_WAIT, "DOCBUS_CHUNK_BYTES": str(CHUNK),
        **make_token(root / "hsm", LABEL, PIN, ec=(KEY,)),
    }  # fmt: skip
    # the recipient's encryption key moves onto its token: a certificate for the token's key
    issued = subprocess.run(
        [sys.executable, "-m", "docbus.cli", "pki", "issue-encryption", RECIPIENT, "--token", LABEL,
         "--token-key", KEY, "--pin-file", str(pin_file)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert issued.returncode == 0, issued.stdout + issued.stderr
    # the authority lists that certificate in the recipient's sealed entry (senders wrap to it)
    sector = build_sector(len(DEPARTMENTS), len(UNIVERSITIES), with_bus=True)
    entries = seal_entries(with_encryption_certificates(sector, world.pki), world.identities["G03"].seal)
    asyncio.run(ensure_topics(kafka_conn, entries))
    asyncio.run(publish_entries(kafka_conn, entries))
    for code in (SENDER, RECIPIENT):
        asyncio.run(start_group_at_end(kafka_conn, f"docbus-inbox-{code}", [inbox_topic(code)]))
    asyncio.run(start_group_at_end(kafka_conn, app_id, [INGRESS_TOPIC, RECEIPTS_TOPIC]))
    bus = BusProcess(env, home / "bus.log")
    bus.start()
    try:
        yield TokenBus(world.pki, home, env, pin_file, bus)
    finally:
        bus.stop()


def test_an_encrypted_appendix_opens_with_the_recipients_token_key(
    token_bus: TokenBus, tmp_path: Path
) -> None:
    issued = token_bus.pki / "issued" / RECIPIENT
    assert not (issued / "encryption.key.pem").exists()  # only the token holds the key now
    assert list(issued.glob("encryption.replaced-*.key.pem"))  # the replaced key file, set aside
    cert = x509.load_pem_x509_certificates((issued / "encryption.pem").read_bytes())[0]

    scan = tmp_path / "phu-luc-mat.pdf"
    scan.write_bytes(b"%PDF-1.7\n" + os.urandom(6 * CHUNK + 11))  # 7 encrypted chunks
    sent = token_bus.docbus(
        "send", "--org", SENDER, "--to", RECIPIENT, "--number", "41", "--notation", "ĐHSP-TK",
        "--subject", "V/v gửi phụ lục qua thiết bị mã hóa", "--file", str(scan), "--timeout", "90",
    )  # fmt: skip
    assert sent.returncode == 0, sent.stdout + sent.stderr + token_bus.bus.log.read_text()[-3000:]
    match = re.search(r"message id\s+(\S+)", sent.stdout)
    assert match is not None and "accepted by the bus" in sent.stdout, sent.stdout
    mid = match[1]

    token = ("--encryption-token", LABEL, "--encryption-token-key", KEY)
    wrong = token_bus.docbus("inbox", "--org", RECIPIENT, *token, DOCBUS_TOKEN_PIN="000000")
    assert wrong.returncode == 4 and "wrong PIN" in wrong.stderr, wrong.stdout + wrong.stderr  # nothing read

    received = token_bus.docbus("inbox", "--org", RECIPIENT, *token, "--pin-file", str(token_bus.pin_file))
    assert received.returncode == 0, received.stdout + received.stderr
    assert re.search(rf"document\s+{mid} from {SENDER}", received.stdout), received.stdout
    folder = token_bus.home / "nodes" / RECIPIENT / "inbox" / mid
    assert (folder / "files" / scan.name).read_bytes() == scan.read_bytes()
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    assert meta["payloads"][0]["encrypted"] is True and meta["verification"]["result"] == "valid"
    env = parse_envelope((folder / "envelope.bin").read_bytes())
    wrap = env.keys.wrap_for(RECIPIENT) if env.keys is not None else None
    assert wrap is not None and bytes(wrap.certificate) == certificate_fingerprint(cert.public_bytes(DER))
