"""The 2025 merger through the command line: close H02 into H01, see who it reaches, publish it as
the directory authority, and a directive to H02 lands in H01's inbox through the real bus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ops.conftest import Exchange

pytestmark = pytest.mark.broker


def _ok(done: object) -> str:
    assert done.returncode == 0, done.stderr + done.stdout  # type: ignore[attr-defined]
    return done.stdout  # type: ignore[attr-defined, no-any-return]


def _refused(done: object, words: str) -> None:
    assert done.returncode == 1, done.stderr  # type: ignore[attr-defined]
    line = done.stderr.strip()  # type: ignore[attr-defined]
    assert "\n" not in line and line.startswith("error: INVALID_FIELD") and words in line, line


def test_merger_close_reroute_and_refusals(exchange: Exchange, tmp_path: Path) -> None:
    run = exchange.run
    _ok(run("directory", "close", "H02", "--successor", "H01"))
    plan = json.loads(_ok(run("directory", "staged", "--json")))
    assert [(c["code"], c["change"]) for c in plan["changes"]] == [("H02", "closed")]
    assert any(line.startswith("H02: addressed to it now goes to H01") for line in plan["affected"])
    assert any(line.startswith("all-departments: 3 -> 2") for line in plan["affected"])
    published = json.loads(_ok(run("directory", "publish", "--yes", "--json")))
    assert published["published"] == 1 and published["snapshot_after"] == plan["snapshot_after"]
    history = json.loads(_ok(run("directory", "show", "H02", "--history", "--json")))
    assert [(v["version"], v["status"]) for v in history["versions"]] == [(1, "active"), (2, "closed")]
    assert history["resolves_to"] == "H01"
    # what the authority must not do: one line each, with the reason
    _refused(run("directory", "add", "H02", "--name", "Sở mới", "--kind", "department"), "never reused")
    _refused(run("directory", "add", "H70", "--name", "Sở", "--kind", "department", "--parent", "H99"), "H99")
    _refused(run("directory", "close", "H03", "--successor", "H02"), "successor H02 is closed")
    _refused(run("directory", "update", "G03", "--parent", "G03.01"), "cycle")
    # the authority lists an org's encryption certificate (what senders wrap large payloads' keys to)
    cert = exchange.pki / "issued" / "H03" / "encryption.pem"
    _ok(run("directory", "update", "H03", "--encryption-cert", str(cert)))
    staged = json.loads(_ok(run("directory", "staged", "--json")))
    change = staged["changes"][0]["fields"]["encryption_certificate"]
    assert change["after"].startswith("sha256:") and change["after"] != change["before"]
    seal = exchange.pki / "issued" / "H03" / "org.pem"  # a signing certificate is refused for it
    assert run("directory", "update", "H03", "--encryption-cert", str(seal)).returncode == 2
    _ok(run("directory", "discard"))
    # re-routed: a directive to the closed H02 reaches H01
    bus = exchange.start_bus(tmp_path, DOCBUS_HOME=str(tmp_path))
    try:
        doc = tmp_path / "ct.txt"
        doc.write_text("Chỉ thị về sáp nhập")
        args = ("--org", "G03", "--to", "H02", "--type", "chi_thi", "--number", "12", "--notation", "CT")
        sent = _ok(run("send", "--file", str(doc), *args, "--subject", "sáp nhập", "--timeout", "90",
                       DOCBUS_HOME=str(tmp_path)))  # fmt: skip
    finally:
        bus.stop()
    assert "accepted by the bus" in sent
    message_id = sent.split()[2]
    inbox = json.loads(_ok(run("inbox", "--org", "H01", "--json", DOCBUS_HOME=str(tmp_path))))
    assert message_id in [d["message_id"] for d in inbox["documents"]]
