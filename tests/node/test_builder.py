"""The builder's signed envelope verifies with the trust core and round-trips the contract."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from producers.builder import build_envelope, payload_from_file, sign_envelope
from schemas.canonical import envelope_signing_input
from schemas.document import SecurityLevel
from schemas.envelope import ZERO_HASH, parse_envelope
from schemas.errors import ContractError
from schemas.payload import Payload
from schemas.reasons import Reason
from tests.node.conftest import NodePki
from tests.node.drafts import draft


def test_signed_envelope_verifies_and_round_trips(node_pki: NodePki, tmp_path: Path) -> None:
    (tmp_path / "phu-luc.docx").write_bytes(b"PK\x03\x04 attachment")
    me = node_pki.identity("G03.U001")
    unsigned = build_envelope(
        me,
        draft(attachments=[payload_from_file(tmp_path / "phu-luc.docx")], promulgation_date=date(2025, 9, 1)),
        sequence=3, previous_hash=b"\x01" * 32, directory_snapshot=b"\x02" * 32,
    )  # fmt: skip
    signed, raw = sign_envelope(me, unsigned)
    env = parse_envelope(raw)
    assert env == signed and env.document.document_id == "G03.U001,2025/09/01,12/ĐHSP-HCTH"
    assert (env.sequence, env.previous_hash, env.directory_snapshot) == (3, b"\x01" * 32, b"\x02" * 32)
    assert env.attachments[0].content_type.endswith("wordprocessingml.document")
    doc = node_pki.policy().verify_document(
        envelope_signing_input(env), env.signatures, env.sender.code, now=datetime.now(UTC)
    )
    assert doc.official.name == "Trần Thị Bình" and doc.organization.org_code == "G03.U001"
    assert env.document.signer.full_name == "Trần Thị Bình"


def test_official_of_a_unit_signs_for_the_ministry(node_pki: NodePki) -> None:
    me = node_pki.identity("G03")
    _, raw = sign_envelope(me, build_envelope(me, draft(recipients=[], groups=["all-universities"])))
    env = parse_envelope(raw)
    doc = node_pki.policy().verify_document(
        envelope_signing_input(env), env.signatures, "G03", now=datetime.now(UTC)
    )
    assert doc.official.org_code == "G03.15" and env.previous_hash == ZERO_HASH


def test_builder_refuses_what_the_bus_would_refuse(node_pki: NodePki) -> None:
    me = node_pki.identity("G03.U001")
    with pytest.raises(ContractError) as info:
        build_envelope(me, draft(recipients=[]))  # nobody addressed
    assert info.value.reason is Reason.INVALID_FIELD
    with pytest.raises(ContractError) as info:
        sign_envelope(
            me,
            build_envelope(me, draft()).model_copy(
                update={
                    "document": build_envelope(me, draft()).document.model_copy(
                        update={"security_level": SecurityLevel.SECRET}
                    )
                }
            ),
        )
    assert info.value.reason is Reason.SECRET_REFUSED
    forged = Payload(file_name="a.pdf", content_type="application/pdf", size=3, sha256=bytes(32), data=b"abc")
    with pytest.raises(ContractError) as info:
        sign_envelope(me, build_envelope(me, draft(payload=forged)))
    assert info.value.reason is Reason.DIGEST_MISMATCH
