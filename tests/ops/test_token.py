"""An official's PKCS#11 token (SoftHSM2) through the command line: certificates issued for the
token's keys (no key file written), a document signed on the token and accepted by the real bus,
the recipient's 01 and a clerk's 03 sealed on a token, and the token's mistakes (a wrong PIN, a
missing key label, a PIN on the command line) as one line and their exit code."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ops.conftest import Exchange
from tests.ops.test_mistakes import _one_line
from tests.softhsm import make_token

pytestmark = [pytest.mark.broker, pytest.mark.softhsm]

LABEL, PIN = "docbus-ops", "271828"
OFFICIAL = "Cán bộ Khóa"


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


@dataclass(frozen=True)
class Token:
    pki: Path  # a copy of the exchange's PKI: seals moved onto the token here only
    pin_file: Path
    env: dict[str, str]

    def run(self, exchange: Exchange, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return exchange.run(*args, **{**self.env, **env})


@pytest.fixture(scope="module")
def token(exchange: Exchange, tmp_path_factory: pytest.TempPathFactory) -> Token:
    root = tmp_path_factory.mktemp("token")
    shutil.copytree(exchange.pki, root / "pki")
    pin_file = root / "pin"
    pin_file.write_text(f"{PIN}\n")
    env = {**make_token(root / "hsm", LABEL, PIN, rsa=("seal",), ec=("official", "authority")),
           "DOCBUS_PKI_DIR": str(root / "pki"), "DOCBUS_HOME": str(root / "home")}  # fmt: skip
    return Token(root / "pki", pin_file, env)


def test_the_directory_authority_seals_on_a_token(exchange: Exchange, token: Token) -> None:
    """G03 seals a new code on its token; every reader verifies that seal."""
    run, pin = functools.partial(token.run, exchange), token.pin_file
    _ok(run("pki", "issue-org", "G03", "--name", "Bộ Giáo dục và Đào tạo", "--token", LABEL,
            "--token-key", "authority", "--pin-file", str(pin)))  # fmt: skip
    _ok(run("directory", "add", "H71", "--name", "Sở thử thiết bị ký số", "--kind", "department"))
    published = json.loads(_ok(run("directory", "publish", "--yes", "--json", "--token", LABEL,
                                   "--token-key", "authority", "--pin-file", str(pin))))  # fmt: skip
    assert published["published"] == 1 and [c["code"] for c in published["changes"]] == ["H71"]
    shown = json.loads(_ok(run("directory", "show", "H71", "--json")))
    assert shown["entries"][0]["code"] == "H71", shown  # listed only when its seal verifies


@pytest.mark.timeout(600)  # about fifteen `docbus` processes and a bus: slow on a loaded 2-core machine
def test_sign_send_and_seal_from_a_softhsm2_token(exchange: Exchange, token: Token, tmp_path: Path) -> None:
    pki, pin_file = token.pki, token.pin_file
    run = functools.partial(token.run, exchange)

    official = ("--token", LABEL, "--token-key", "official", "--pin-file", str(pin_file))
    seal = ("--token", LABEL, "--token-key", "seal", "--pin-file", str(pin_file))
    # certificates for the keys on the token, the PIN from the environment: no key file is written
    _ok(run("pki", "issue-official", "H01", "--name", OFFICIAL, "--position", "Phó Giám đốc",
            "--token", LABEL, "--token-key", "official", DOCBUS_TOKEN_PIN=PIN))  # fmt: skip
    _ok(run("pki", "issue-org", "G03.U002", "--name", "Trường Đại học Hai", *seal))
    assert (pki / "issued/H01/officials/can-bo-khoa.pem").is_file()
    assert not (pki / "issued/H01/officials/can-bo-khoa.key.pem").exists()

    doc = tmp_path / "cv.txt"
    doc.write_text("Công văn ký bằng thiết bị ký số")
    send = ("send", "--file", str(doc), "--org", "H01", "--official", OFFICIAL, "--to", "G03.U002",
            "--number", "7", "--notation", "CV-TOKEN", "--subject", "ký số trên token")  # fmt: skip
    # the token's mistakes: one line, exit 4 (local: token, PIN) or 2 (usage), before anything is sent
    wrong = tmp_path / "wrong-pin"
    wrong.write_text("000000")
    _one_line(run(*send, "--no-wait", "--token", LABEL, "--token-key", "official", "--pin-file", str(wrong)),
              4, "wrong PIN", "PIN file")  # fmt: skip
    _one_line(run("inbox", "--org", "G03.U002", "--token", LABEL, "--token-key", "seal",
                  DOCBUS_TOKEN_PIN="000000"), 4, "wrong PIN")  # fmt: skip
    _one_line(run(*send, "--token", LABEL, "--pin-file", str(pin_file)), 2, "--token-key")
    _one_line(run(*send, *official, "--pin", PIN), 2, "--pin")  # never a PIN on the command line
    _one_line(run(*send, "--token", LABEL, "--token-key", "nope", "--pin-file", str(pin_file)), 4, "nope")

    bus = exchange.start_bus(tmp_path)
    try:
        sent = _ok(run(*send, *official, "--timeout", "90"))
        assert "accepted by the bus" in sent, sent
        message_id = sent.split()[2]
        # the recipient verifies the token's signature, stores it and seals its 01 on its own token
        got = json.loads(_ok(run("inbox", "--org", "G03.U002", *seal, "--json")))
        stored = [d for d in got["documents"] if d["message_id"] == message_id]
        assert stored and stored[0]["receipt_sent"], got
        _opened_by_the_clerk(run, message_id, doc, tmp_path / "export")
        _ok(run("receipt", message_id, "--org", "G03.U002", "--status", "03", "--by", "Văn thư", *seal))
        # the sender gets both receipts through the bus, their token seals valid
        statuses: set[str] = set()
        for _ in range(30):  # each round is one `docbus inbox --once`: the bus forwards as it goes
            view = json.loads(_ok(run("inbox", "--org", "H01", "--json")))
            mine = [r for r in view["receipts"] if r["envelope_id"] == message_id and r["from"] == "G03.U002"]
            statuses |= {r["status"] for r in mine if r["seal"] == "valid"}
            if {"01", "03"} <= statuses:
                break
        assert {"01", "03"} <= statuses, statuses
    finally:
        bus.stop()


def _opened_by_the_clerk(run: Callable[..., subprocess.CompletedProcess[str]], message_id: str, doc: Path,
                         out: Path) -> None:  # fmt: skip
    """`docbus inbox show | open | export`: the header, the token's signature and its verdict, the file."""
    shown = json.loads(_ok(run("inbox", "show", message_id, "--org", "G03.U002", "--json")))
    assert shown["document"]["code_notation"] == "CV-TOKEN" and shown["sender"]["code"] == "H01"
    signers = {s["role"]: s for s in shown["signatures"]}
    assert signers["official"]["name"] == OFFICIAL and signers["official"]["position"] == "Phó Giám đốc"
    assert shown["verification"]["result"] == "valid" and shown["receipt_sent"]
    assert shown["verification"]["official"]["serial"] == signers["official"]["serial"]
    table = _ok(run("inbox", "show", message_id, "--org", "G03.U002"))
    assert OFFICIAL in table and "valid" in table and doc.name in table
    opened = run("inbox", "open", message_id, "--org", "G03.U002", "--stdout")
    assert opened.returncode == 0 and opened.stdout == doc.read_text(), opened.stderr
    exported = json.loads(_ok(run("inbox", "export", message_id, "--org", "G03.U002", "--out", str(out),
                                  "--json")))  # fmt: skip
    folder = out / message_id
    assert (
        exported["folder"] == str(folder) and (folder / "files" / doc.name).read_bytes() == doc.read_bytes()
    )
    assert json.loads((folder / "header.json").read_text("utf-8"))["message_id"] == message_id
    assert (folder / "envelope.bin").is_file() and (folder / "receipt.bin").is_file()
    _one_line(
        run("inbox", "show", "no-such-message", "--org", "G03.U002"), 1, "not in G03.U002's inbox store"
    )
