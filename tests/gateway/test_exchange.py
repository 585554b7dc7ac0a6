"""End to end on the real broker through two live gateways: the university's e-office posts an edXML
công văn to its gateway; the ministry's gateway lists it, downloads it, answers 03; the
university's gateway reports the 03. The package survives the bus field for field."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from producers.edxml import SignatureVerdict, parse_package
from producers.edxml.status import StatusMessage, export_status
from schemas.edxml import EdxmlStaff
from schemas.receipt import StatusCode
from tests.edxml.conftest import SAMPLE_PATH
from tests.gateway.conftest import MOET, UNI, Exchange

pytestmark = pytest.mark.broker


def university_package(number: str = "1234") -> bytes:
    """The sample công văn (số ``number``), sent by the university to the ministry."""
    text = SAMPLE_PATH.read_text(encoding="utf-8").replace("1234", number)
    # signed by the university's official (tests/gateway/conftest.py): the header names that signer
    text = text.replace("Trần Văn Ví Dụ", "Trần Thị Bình").replace("Phó Cục trưởng", "Hiệu trưởng")
    return text.replace("000.00.15.G03", UNI).replace("000.00.00.H01", "000.00.00.G03").encode()


def test_edxml_from_a_university_to_the_ministry_and_its_03_back(exchange: Exchange) -> None:
    package = university_package()
    xml = {"Content-Type": "application/xml", "Idempotency-Key": "cong-van-1234"}
    with exchange.uni.client() as uni, exchange.moet.client() as moet:
        sent = uni.post(f"/v1/orgs/{UNI}/edxml", params={"wait": 30}, content=package, headers=xml)
        assert sent.status_code == 202, sent.text
        assert sent.json()["state"] == "accepted", sent.json()
        assert sent.json()["package_signature"]["verdict"] == "absent"
        mid = sent.json()["message_id"]

        listed = moet.get(f"/v1/orgs/{MOET}/inbox", params={"message_id": mid, "wait": 60})
        assert listed.status_code == 200, listed.text
        [doc] = listed.json()
        assert doc["sender"]["code"] == UNI and doc["verification"]["result"] == "valid"
        assert doc["verification"]["organization"]["org"] == UNI

        one = moet.get(f"/v1/orgs/{MOET}/inbox/{mid}").json()
        first_file = one["files"][0]
        data = moet.get(f"/v1/orgs/{MOET}/inbox/{mid}/files/{first_file}")
        assert data.status_code == 200
        original = parse_package(package)
        assert data.content == original.content.payload.data

        exported = moet.get(f"/v1/orgs/{MOET}/inbox/{mid}/edxml", params={"sign": True})
        assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/xml")
        back = parse_package(exported.content)
        # every field survived the bus and the gateways; the sender's name is the directory's (the
        # package's OrganName "Cục Công nghệ thông tin" is not G03.U001's name: the node takes it
        # from the signed snapshot, the bus would refuse another SENDER_NAME)
        named = replace(original.content, sender=original.content.sender.model_copy(
            update={"name": "Trường Đại học Sư phạm Hà Nội"}))  # fmt: skip
        assert back.content == named
        assert back.signature.verdict is SignatureVerdict.VALID and MOET in back.signature.subject

        answer = {"message_id": mid, "status": "03", "by": "Nguyễn Văn An", "position": "Văn thư"}
        receipt = moet.post(f"/v1/orgs/{MOET}/receipts", json=answer)
        assert receipt.status_code == 201, receipt.text
        assert receipt.json()["to_org"] == UNI

        status = uni.get(f"/v1/orgs/{UNI}/documents/{mid}", params={"wait": 60, "until": "03"})
        assert status.status_code == 200, status.text
        body = status.json()
        assert body["state"] == "accepted"
        assert [(r["from_org"], r["status"], r["seal"]) for r in body["receipts"] if r["status"] == "03"] == [
            (MOET, "03", "valid")
        ]
        assert MOET in [r["recipient"] for r in body["recipients"]]

        # the ministry's e-office speaks edXML status too: 05 (processing) as a Status package
        staff = EdxmlStaff(staff="Nguyễn Văn An", department="Văn phòng")
        now = datetime.now(UTC)
        doc_id, processing = body["document_id"], StatusCode.PROCESSING
        message = StatusMessage(doc_id, "000.00.00.G03", "Bộ GD&ĐT", processing, "", now, staff)
        status_xml = export_status(message)
        sent05 = moet.post(
            f"/v1/orgs/{MOET}/receipts/edxml", content=status_xml, headers={"Content-Type": "application/xml"}
        )
        assert sent05.status_code == 201 and sent05.json()["message_id"] == mid, sent05.text
        later = uni.get(f"/v1/orgs/{UNI}/documents/{mid}", params={"wait": 60, "until": "05"}).json()
        assert ("05", "Nguyễn Văn An") in [(r["status"], r["by"]) for r in later["receipts"]]

        again = uni.post(f"/v1/orgs/{UNI}/edxml", content=package, headers=xml)  # a retried POST
        assert again.status_code == 202 and again.json()["message_id"] == mid
        assert again.headers["Idempotent-Replayed"] == "true"


def test_a_file_over_the_inline_limit_travels_as_chunks(exchange: Exchange) -> None:
    big = b"%PDF-1.7 " + bytes(range(256)) * 2400  # 600 KiB: above the 256 KiB inline limit
    meta = {"to": [MOET], "number": "17", "notation": "ĐHBK-HCTH", "subject": "V/v hồ sơ lớn"}
    files = {"metadata": (None, json.dumps(meta).encode(), "application/json"),
             "file": ("ho-so.pdf", big, "application/pdf")}  # fmt: skip
    with exchange.uni.client() as uni, exchange.moet.client() as moet:
        sent = uni.post(f"/v1/orgs/{UNI}/documents", params={"wait": 30}, files=files)
        assert sent.status_code == 202 and sent.json()["state"] == "accepted", sent.text
        mid = sent.json()["message_id"]
        listed = moet.get(f"/v1/orgs/{MOET}/inbox", params={"message_id": mid, "wait": 60}).json()
        assert [d["files"] for d in listed] == [["ho-so.pdf"]]
        assert moet.get(f"/v1/orgs/{MOET}/inbox/{mid}/files/ho-so.pdf").content == big
