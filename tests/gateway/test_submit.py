"""Submitting through a live gateway: files + header and edXML in, the bus's notice back; bad input
refused with a problem+json reason before anything is sent."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from producers.builder import DocumentDraft, build_envelope
from producers.identity import NodeIdentity
from producers.keys import make_signature
from schemas.canonical import envelope_signing_input
from schemas.codec import encode
from schemas.document import DocumentType
from schemas.payload import Payload
from schemas.signature import SignerRole
from tests.bus.world import PASSPHRASE
from tests.edxml.conftest import SAMPLE_PATH
from tests.gateway.conftest import MOET, UNI, Exchange

pytestmark = pytest.mark.broker

META = {"to": [MOET], "number": "15", "notation": "ĐHBK-HCTH", "subject": "V/v báo cáo tuyển sinh 2026"}


def _files(meta: dict[str, object]) -> dict[str, tuple[str | None, bytes, str]]:
    return {"metadata": (None, json.dumps(meta).encode(), "application/json"),
            "file": ("bao-cao.pdf", b"%PDF-1.7 bao cao", "application/pdf")}  # fmt: skip


def test_files_and_header_are_signed_sent_and_accepted(exchange: Exchange) -> None:
    with exchange.uni.client() as http:
        r = http.post(f"/v1/orgs/{UNI}/documents", params={"wait": 30}, files=_files(META))
        assert r.status_code == 202, r.text
        sent = r.json()
        assert sent["state"] == "accepted", sent
        assert sent["document_id"].startswith(f"{UNI},") and sent["sequence"] >= 1
        status = http.get(f"/v1/orgs/{UNI}/documents/{sent['message_id']}", params={"wait": 30})
        assert status.status_code == 200, status.text
        assert status.json()["state"] == "accepted"


def test_a_retried_submit_with_the_same_key_sends_once(exchange: Exchange) -> None:
    with exchange.uni.client() as http:
        first = http.post(f"/v1/orgs/{UNI}/documents", files=_files(META), headers={"Idempotency-Key": "k-1"})
        again = http.post(f"/v1/orgs/{UNI}/documents", files=_files(META), headers={"Idempotency-Key": "k-1"})
        assert first.status_code == again.status_code == 202, first.text + again.text
        assert first.json()["message_id"] == again.json()["message_id"]
        assert again.headers["Idempotent-Replayed"] == "true"
        other = {**META, "subject": "V/v khác"}
        reused = http.post(
            f"/v1/orgs/{UNI}/documents", files=_files(other), headers={"Idempotency-Key": "k-1"}
        )
        assert reused.status_code == 422 and reused.json()["reason"] == "IDEMPOTENCY_KEY_REUSED"


def _problem(r: object, status: int, reason: str) -> None:
    import httpx

    assert isinstance(r, httpx.Response)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["reason"] == reason, r.text


def test_bad_input_is_a_problem_with_a_reason(exchange: Exchange) -> None:
    url = f"/v1/orgs/{UNI}"
    sample = SAMPLE_PATH.read_bytes()  # from 000.00.15.G03: not the university's
    with exchange.uni.client() as http:
        _problem(http.post(f"{url}/documents", json=META), 415, "UNSUPPORTED_MEDIA_TYPE")
        _problem(http.post(f"{url}/documents", files=_files({**META, "priority": 9})), 422, "INVALID_FIELD")
        _problem(
            http.post(f"{url}/documents", files=_files({**META, "to": ["bad code"]})), 422, "INVALID_FIELD"
        )
        xml = {"Content-Type": "application/xml"}
        _problem(http.post(f"{url}/edxml", content=b"<edXML><unclosed>", headers=xml), 400, "MALFORMED")
        bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
        _problem(http.post(f"{url}/edxml", content=bomb, headers=xml), 400, "XML_ENTITY_REFUSED")
        _problem(http.post(f"{url}/edxml", content=sample, headers=xml), 403, "ORG_NOT_GRANTED")
        _problem(http.post(f"{url}/edxml", content=sample, headers={"Content-Type": "text/plain"}), 415,
                 "UNSUPPORTED_MEDIA_TYPE")  # fmt: skip
        big = b"x" * (7 * 1024 * 1024)
        _problem(http.post(f"{url}/edxml", content=big, headers=xml), 413, "TOO_LARGE")
        _problem(http.get(f"/v1/orgs/{MOET}/inbox"), 403, "ORG_NOT_GRANTED")
        octets = {"Content-Type": "application/octet-stream"}
        _problem(http.post(f"{url}/envelopes", content=b"\xc3\x01junk", headers=octets), 400, "MALFORMED")
        status = http.get(f"{url}/documents/00000000-0000-4000-8000-000000000000")
        _problem(status, 404, "NOT_FOUND")
        # nothing of the above was numbered: the next position is right after the accepted ones
    with exchange.uni.client() as http:
        http.headers["Authorization"] = "Bearer nope"
        _problem(http.get(f"{url}/inbox"), 401, "UNAUTHENTICATED")


def _signed_by_the_official(clerk: NodeIdentity, at: dict[str, Any], number: str = "18") -> tuple[str, bytes]:
    """What the clerk's machine builds: the envelope at the node's next position, the official's
    signature only (the gateway adds the organisation's seal)."""
    draft = DocumentDraft(
        document_type=DocumentType.CONG_VAN, code_number=number, code_notation="ĐHBK-HCTH",
        subject="V/v ký số tại máy văn thư", recipients=[MOET],
        payload=Payload.of("to-trinh.pdf", "application/pdf", b"%PDF-1.7 to trinh"),
    )  # fmt: skip
    env = build_envelope(
        clerk, draft, sequence=at["sequence"], previous_hash=bytes.fromhex(at["previous_hash"]),
        directory_snapshot=bytes.fromhex(at["directory_snapshot"]),
    )  # fmt: skip
    official = make_signature(clerk.require_official(), SignerRole.OFFICIAL, envelope_signing_input(env))
    return env.message_id, encode(env.model_copy(update={"signatures": [official]}))


def test_an_envelope_the_official_signed_elsewhere_gets_the_seal_and_is_sent(exchange: Exchange) -> None:
    clerk = NodeIdentity.from_pki(exchange.world.pki, UNI, PASSPHRASE, "*")  # the official's token
    octets = {"Content-Type": "application/octet-stream"}
    with exchange.uni.client() as http:
        at = http.get(f"/v1/orgs/{UNI}/envelopes/next").json()
        mid, raw = _signed_by_the_official(clerk, at)
        sent = http.post(f"/v1/orgs/{UNI}/envelopes", params={"wait": 30}, content=raw, headers=octets)
        assert sent.status_code == 202, sent.text
        assert sent.json()["message_id"] == mid and sent.json()["state"] == "accepted"
        again = http.post(f"/v1/orgs/{UNI}/envelopes", content=raw, headers=octets)  # a retry: same answer
        assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
        _, late = _signed_by_the_official(clerk, at)  # signed at the position just used
        _problem(http.post(f"/v1/orgs/{UNI}/envelopes", content=late, headers=octets), 409, "SEQUENCE_GAP")


def _number() -> str:
    return str(uuid.uuid4().int % 10**9)  # one số/ký hiệu per document (DUPLICATE_DOCUMENT)


def _roll_back(state: Path, backup: Path) -> None:
    """The node's state folder restored from ``backup`` (last night's copy) under a running gateway."""
    shutil.rmtree(state)
    shutil.copytree(backup, state)


def test_an_asynchronous_submit_from_a_rolled_back_node_recovers_by_itself(
    exchange: Exchange, tmp_path: Path
) -> None:
    """A submit not waited for (202 pending) from a node whose state folder was restored from an old
    backup: the bus refuses it as not counted (sealed 02), nobody is waiting — the gateway reads the
    notice, takes the bus's position and signs the document again; its outcome says accepted, at a
    new sequence, and lists the earlier refusal."""
    state = exchange.home / "nodes" / UNI / "state"
    with exchange.uni.client() as http:
        def submit(**params: int) -> dict[str, Any]:
            files = _files({**META, "number": _number()})
            r = http.post(f"/v1/orgs/{UNI}/documents", params=params, files=files)
            assert r.status_code == 202, r.text
            return dict(r.json())

        assert submit(wait=30)["state"] == "accepted"
        shutil.copytree(state, tmp_path / "backup")
        assert submit(wait=30)["state"] == "accepted"
        _roll_back(state, tmp_path / "backup")
        sent = submit()
        assert sent["state"] == "pending"
        r = http.get(f"/v1/orgs/{UNI}/documents/{sent['message_id']}", params={"wait": 60})
        assert r.status_code == 200, r.text
        status = r.json()
        assert status["state"] == "accepted", (status, exchange.uni.log.read_text()[-3000:])
        assert status["sequence"] > sent["sequence"]
        refusals = [e["reason"].split(":")[0] for e in status["earlier"]]
        assert refusals in (["SEQUENCE_GAP"], ["REPLAY"]), status
        assert submit(wait=30)["state"] == "accepted"  # and the org sends on


def test_an_envelope_signed_elsewhere_that_the_bus_did_not_count_says_where_to_sign_again(
    exchange: Exchange, tmp_path: Path
) -> None:
    """An envelope the official signed on a token at the position the node gave (GET next), but the
    node's state folder was behind the bus (restored from a backup): the node cannot sign it again
    itself, so the submit is answered 409 SEQUENCE_GAP with the position to sign at — which
    GET next now gives too — and the envelope signed there is accepted."""
    clerk = NodeIdentity.from_pki(exchange.world.pki, UNI, PASSPHRASE, "*")  # the official's token
    octets = {"Content-Type": "application/octet-stream"}
    state = exchange.home / "nodes" / UNI / "state"
    with exchange.uni.client() as http:
        shutil.copytree(state, tmp_path / "backup")
        at = http.get(f"/v1/orgs/{UNI}/envelopes/next").json()
        _, raw = _signed_by_the_official(clerk, at, _number())
        first = http.post(f"/v1/orgs/{UNI}/envelopes", params={"wait": 30}, content=raw, headers=octets)
        assert first.status_code == 202 and first.json()["state"] == "accepted", first.text
        _roll_back(state, tmp_path / "backup")
        stale = http.get(f"/v1/orgs/{UNI}/envelopes/next").json()
        assert stale["sequence"] == at["sequence"]  # nothing told the node otherwise yet
        _, late = _signed_by_the_official(clerk, stale, _number())
        refused = http.post(f"/v1/orgs/{UNI}/envelopes", params={"wait": 30}, content=late, headers=octets)
        _problem(refused, 409, "SEQUENCE_GAP")
        where = refused.json()
        assert where["sequence"] == at["sequence"] + 1, where
        assert where["previous_hash"] == first.json()["signing_hash"], where
        fresh = http.get(f"/v1/orgs/{UNI}/envelopes/next").json()
        assert (fresh["sequence"], fresh["previous_hash"]) == (where["sequence"], where["previous_hash"])
        _, again = _signed_by_the_official(clerk, fresh, _number())
        sent = http.post(f"/v1/orgs/{UNI}/envelopes", params={"wait": 30}, content=again, headers=octets)
        assert sent.status_code == 202 and sent.json()["state"] == "accepted", sent.text
