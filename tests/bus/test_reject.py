"""Every rejection path on the real broker: quarantine with the reason, a sealed 02 notice to a
known sender, nothing in any recipient's inbox, and the next good envelope still flows."""

from __future__ import annotations

import hashlib
import os
import unicodedata
from collections.abc import Callable

import pytest
from aiokafka import ConsumerRecord

from schemas.connection import KafkaConnection
from schemas.document import BusinessType
from schemas.quarantine import QuarantineRecord
from schemas.receipt import StatusCode
from schemas.topics import QUARANTINE_TOPIC, inbox_topic
from tests.bus.kafka import BusProcess, bus_notices, end_offsets, produce, read_until
from tests.bus.kafka import quarantined as quarantined_by
from tests.bus.world import MINISTER, Sender, World, forge, named_payload, raw_of, same_number

pytestmark = pytest.mark.broker

Records = list[ConsumerRecord[bytes, bytes]]


def has(records: Records, topic: str, key: bytes) -> bool:
    return any(r.topic == topic and r.key == key for r in records)


def _reasons(records: Records, app_id: str) -> dict[str | None, str]:
    """The reason code of each message id the processor ``app_id`` quarantined."""
    return {q.message_id: q.reason.value for q in quarantined_by(records, app_id)}


async def test_every_rejection_is_quarantined_with_its_reason_and_a_notice(
    kafka_conn: KafkaConnection, published: World, bus_process: BusProcess, senders: Callable[[str], Sender]
) -> None:
    codes = ("H01", "H02", "H03", "H04", "H05")
    start = await end_offsets(kafka_conn, [QUARANTINE_TOPIC, *(inbox_topic(c) for c in codes)])
    h01, h02, h03, h04 = (senders(c) for c in ("H01", "H02", "H03", "H04"))
    cases: dict[str, tuple[str, str]] = {}  # message id -> (reason, sender)

    forged_env, _ = h01.envelope(("H02",), advance=False)
    forged = forge(forged_env)
    cases[forged_env.message_id] = ("SIGNATURE_INVALID", "H01")
    silent = {forged_env.message_id}  # its seal does not verify: H01 is only named, and told nothing
    revoked_env, revoked = h03.envelope(("H01",))
    cases[revoked_env.message_id] = ("CERT_REVOKED", "H03")
    unknown_env, unknown = h02.envelope(("H09",))  # refused, yet its number is used
    cases[unknown_env.message_id] = ("UNKNOWN_RECIPIENT", "H02")
    elsewhere_env, elsewhere = h02.envelope(("H01",), snapshot=bytes(32))
    cases[elsewhere_env.message_id] = ("DIRECTORY_MISMATCH", "H02")  # after the bus looked again
    secret_env, secret = h01.secret(("H02",))
    cases[secret_env.message_id] = ("SECRET_REFUSED", "H01")
    first_env, first = h04.envelope(("H01",))
    # its second copy is an identical resend: no quarantine record, no 02, its 01 again
    h04.envelope(("H01",))  # built and never sent
    gap_env, gap = h04.envelope(("H01",))
    cases[gap_env.message_id] = ("SEQUENCE_GAP", "H04")
    noise = os.urandom(200)
    good_env, good = senders("G03").envelope(("H05",))

    await produce(
        kafka_conn,
        "docbus.ingress",
        [
            (b"H01", forged), (b"H03", revoked), (b"H02", unknown), (b"H02", elsewhere), (b"H01", secret),
            (b"H04", first),
            (b"H04", first), (b"H04", gap), (b"H05", noise), (b"G03", good),
        ],
    )  # fmt: skip

    def notices(records: Records) -> dict[tuple[str, str], str]:
        return {
            (n.envelope_id, n.to_org): n.reason.split(":", 1)[0]
            for n in bus_notices(records, published)
            if n.status is StatusCode.REJECTED
        }

    def arrived(records: Records, message_id: str) -> list[str]:
        return [
            n.message_id
            for n in bus_notices(records, published)
            if n.status is StatusCode.ARRIVED and n.envelope_id == message_id
        ]

    def quarantined(records: Records) -> list[QuarantineRecord]:
        return quarantined_by(records, bus_process.app_id)

    def done(records: Records) -> bool:
        reasons = {q.message_id for q in quarantined(records)}
        return (
            set(cases) <= reasons
            and any(q.raw == noise for q in quarantined(records))
            and has(records, inbox_topic("H05"), good_env.message_id.encode())
            and has(records, inbox_topic("H01"), first_env.message_id.encode())
            and len([k for k in notices(records) if k[0] in cases]) == len(cases) - len(silent)
            and len(arrived(records, first_env.message_id)) == 2
        )

    records = await read_until(kafka_conn, start, done, bus=bus_process)
    assert done(records), f"bus log: {bus_process.log.read_text()[-3000:]}"
    by_id = {q.message_id: q for q in quarantined(records) if q.message_id in cases}
    assert {mid: q.reason.value for mid, q in by_id.items()} == {mid: r for mid, (r, _) in cases.items()}
    assert (
        by_id[forged_env.message_id].raw == forged and by_id[forged_env.message_id].topic == "docbus.ingress"
    )
    got = notices(records)
    for mid, (reason, sender) in cases.items():
        assert got.get((mid, sender)) == (None if mid in silent else reason)
    noisy = next(q for q in quarantined(records) if q.raw == noise)
    assert noisy.reason.value in {"MALFORMED", "UNKNOWN_SCHEMA"} and noisy.message_id is None
    # nothing refused reached a recipient; the replayed envelope reached H01 once, from its first copy
    delivered = [r.key for r in records if r.topic in {inbox_topic("H01"), inbox_topic("H02")}]
    refused = (forged_env, unknown_env, elsewhere_env, secret_env, gap_env)
    for mid in (e.message_id for e in refused):
        assert mid.encode() not in delivered
    assert delivered.count(first_env.message_id.encode()) == 1
    assert first_env.message_id not in {q.message_id for q in quarantined(records)}
    assert len(set(arrived(records, first_env.message_id))) == 1  # one notice id: kept once by the inbox


async def test_random_bytes_do_not_stall_the_agent(
    kafka_conn: KafkaConnection, published: World, bus_process: BusProcess, senders: Callable[[str], Sender]
) -> None:
    start = await end_offsets(kafka_conn, [QUARANTINE_TOPIC, inbox_topic("H02")])
    sender = senders("G03")
    huge = os.urandom(1536 * 1024)  # over the 1 MiB limit, under the topic's 2 MiB
    junk: list[bytes] = [b"", b"\xc3\x01", b"\xc3\x01" + os.urandom(50), os.urandom(5000), huge]
    good_env, good = sender.envelope(("H02",))
    await produce(kafka_conn, "docbus.ingress", [*((b"G03", j) for j in junk), (b"G03", good)])

    def kept(rs: Records) -> list[QuarantineRecord]:
        return [q for q in quarantined_by(rs, bus_process.app_id) if q.message_id is None]

    def arrived(rs: Records) -> bool:
        raws = [q.raw for q in kept(rs)]
        return has(rs, inbox_topic("H02"), good_env.message_id.encode()) and all(
            j in raws or (j is huge and huge[:65536] in raws) for j in junk
        )

    records = await read_until(kafka_conn, start, arrived, bus=bus_process)
    assert arrived(records), f"bus log: {bus_process.log.read_text()[-3000:]}"
    [big] = [q for q in kept(records) if q.raw == huge[: len(q.raw)] and q.raw]
    assert big.reason.value == "TOO_LARGE" and len(big.raw) < len(huge)
    assert hashlib.sha256(huge).hexdigest() in big.detail


async def test_a_typo_in_the_recipients_does_not_block_the_sender(
    kafka_conn: KafkaConnection, published: World, bus_process: BusProcess, senders: Callable[[str], Sender]
) -> None:
    """UNKNOWN_RECIPIENT, then the next send of the same node: delivered (it was SEQUENCE_GAP for
    every later envelope of that org, until the state file was edited by hand)."""
    start = await end_offsets(kafka_conn, [QUARANTINE_TOPIC, inbox_topic("H01"), inbox_topic("H02")])
    h02 = senders("H02")
    typo_env, typo = h02.envelope(("H09",))  # the node numbered and sent it: the number is used
    next_env, after = h02.envelope(("H01",))
    await produce(kafka_conn, "docbus.ingress", [(b"H02", typo), (b"H02", after)])

    def done(records: Records) -> bool:  # the copy and the quarantine record: different partitions
        return has(records, inbox_topic("H01"), next_env.message_id.encode()) and (
            typo_env.message_id in _reasons(records, bus_process.app_id)
        )

    records = await read_until(kafka_conn, start, done, bus=bus_process)
    assert done(records), f"bus log: {bus_process.log.read_text()[-3000:]}"
    got = _reasons(records, bus_process.app_id)
    assert got.get(typo_env.message_id) == "UNKNOWN_RECIPIENT" and next_env.message_id not in got


async def test_a_field_bug_is_answered_and_a_forged_one_is_not(
    kafka_conn: KafkaConnection, published: World, bus_process: BusProcess, senders: Callable[[str], Sender]
) -> None:
    """INVALID_FIELD (a duplicate recipient) and MALFORMED (bytes after the body) of envelopes that
    decode and whose seal verifies: a sealed 02 with the code and the detail to the sender, which
    sends on; the same field bug under a seal that does not verify names H01 and tells it nothing."""
    inboxes = [inbox_topic(c) for c in ("H01", "H02", "H04", "G03")]
    start = await end_offsets(kafka_conn, [QUARANTINE_TOPIC, *inboxes])
    h02, g03 = senders("H02"), senders("G03")  # chains every other test of this module keeps whole
    invalid = h02.field_bug(("H04", "H04"))
    malformed = g03.field_bug(("H04",))
    forged = senders("H01").field_bug(("H04", "H04"), sign=False)
    next_env, after = h02.envelope(("H04",))
    cases = {invalid.message_id: ("INVALID_FIELD", "H02"), malformed.message_id: ("MALFORMED", "G03")}
    await produce(
        kafka_conn, "docbus.ingress",
        [(b"H02", raw_of(invalid)), (b"G03", raw_of(malformed, b"\x00")), (b"H01", raw_of(forged)),
         (b"H02", after)],
    )  # fmt: skip

    def refusals(records: Records) -> dict[tuple[str, str], str]:
        return {
            (n.envelope_id, n.to_org): n.reason
            for n in bus_notices(records, published)
            if n.status is StatusCode.REJECTED
        }

    def done(records: Records) -> bool:
        kept = {q.message_id for q in quarantined_by(records, bus_process.app_id)}
        return (
            {invalid.message_id, malformed.message_id, forged.message_id} <= kept
            and has(records, inbox_topic("H04"), next_env.message_id.encode())
            and len(refusals(records)) >= 2
        )

    records = await read_until(kafka_conn, start, done, bus=bus_process)
    assert done(records), f"bus log: {bus_process.log.read_text()[-3000:]}"
    got = refusals(records)
    for mid, (reason, sender) in cases.items():
        text = got.get((mid, sender), "")
        assert text.startswith(f"{reason}: ") and len(text) > len(reason) + 2, text
    assert "duplicate recipient" in got[(invalid.message_id, "H02")]
    assert not [k for k in got if k[0] == forged.message_id]  # H01 never sent it: no notice
    told = {q.message_id: q for q in quarantined_by(records, bus_process.app_id)}
    assert told[forged.message_id].reason.value == "INVALID_FIELD"
    delivered = [r.key for r in records if r.topic.startswith("docbus.inbox.") and r.key]
    assert invalid.message_id.encode() not in delivered and malformed.message_id.encode() not in delivered


async def test_document_identity_and_text_are_refused_each_with_its_code(
    kafka_conn: KafkaConnection, published: World, bus_process: BusProcess, senders: Callable[[str], Sender]
) -> None:
    """On the real bus: a header signed by a department official but naming the minister as signer
    (SIGNER_MISMATCH), a sender name that is not the directory's for its code (SENDER_NAME), an NFD
    subject (TEXT_NOT_NFC), a file name with a bidi override and a NUL in a subject
    (FORBIDDEN_CHARACTER) — all accepted before; each quarantined, the sender told, and its next
    envelope delivered."""
    start = await end_offsets(kafka_conn, [QUARANTINE_TOPIC, inbox_topic("H02"), inbox_topic("G03")])
    g03 = senders("G03")
    nfd = unicodedata.normalize("NFD", "Về việc tuyển sinh")
    cases = [
        (g03.variant(("H02",), signer=MINISTER), "SIGNER_MISMATCH"),
        (g03.variant(("H02",), sender_name="Trường Đại học Sư phạm Hà Nội"), "SENDER_NAME"),
        (g03.variant(("H02",), subject=nfd), "TEXT_NOT_NFC"),
        (g03.variant(("H02",), payload=named_payload("cv\u202efdp.exe")), "FORBIDDEN_CHARACTER"),
        (g03.variant(("H02",), subject="a\x00b"), "FORBIDDEN_CHARACTER"),
    ]
    good_env, good = g03.envelope(("H02",))
    await produce(kafka_conn, "docbus.ingress", [(b"G03", raw_of(e)) for e, _ in cases] + [(b"G03", good)])
    wanted = {e.message_id: reason for e, reason in cases}

    def told(records: Records) -> dict[str, str]:
        return {
            n.envelope_id: n.reason.split(":", 1)[0]
            for n in bus_notices(records, published)
            if n.status is StatusCode.REJECTED and n.envelope_id in wanted
        }

    def done(records: Records) -> bool:
        # the notices, the quarantine records and the good copy are on different partitions: the
        # reader may see one before another, so it waits for all of them
        got = len(told(records)) == len(cases) and set(wanted) <= set(_reasons(records, bus_process.app_id))
        return got and has(records, inbox_topic("H02"), good_env.message_id.encode())

    records = await read_until(kafka_conn, start, done, bus=bus_process)
    assert done(records), f"bus log: {bus_process.log.read_text()[-3000:]}"
    assert told(records) == wanted
    kept = _reasons(records, bus_process.app_id)
    assert {mid: kept.get(mid) for mid in wanted} == wanted
    delivered = {r.key for r in records if r.topic == inbox_topic("H02")}
    assert not {mid.encode() for mid in wanted} & delivered


async def test_a_document_number_is_used_once_per_issuer_and_year(
    kafka_conn: KafkaConnection, published: World, bus_process: BusProcess, senders: Callable[[str], Sender]
) -> None:
    """A re-signed copy under a new message id and the original's số/ký hiệu: DUPLICATE_DOCUMENT
    and a 02 (it was delivered beside the original); an edXML update naming the original goes through."""
    start = await end_offsets(kafka_conn, [QUARANTINE_TOPIC, inbox_topic("H03"), inbox_topic("G03")])
    g03 = senders("G03")
    original, raw = g03.envelope(("H03",))
    copy = same_number(g03, original, ("H03",))
    update = same_number(g03, original, ("H03",), amends=BusinessType.UPDATE)
    await produce(kafka_conn, "docbus.ingress", [(b"G03", r) for r in (raw, raw_of(copy), raw_of(update))])

    def done(records: Records) -> bool:
        return has(records, inbox_topic("H03"), update.message_id.encode()) and any(
            n.envelope_id == copy.message_id for n in bus_notices(records, published)
        )

    records = await read_until(kafka_conn, start, done, bus=bus_process)
    assert done(records), f"bus log: {bus_process.log.read_text()[-3000:]}"
    [notice] = [n for n in bus_notices(records, published) if n.envelope_id == copy.message_id]
    assert notice.status is StatusCode.REJECTED and notice.reason.startswith("DUPLICATE_DOCUMENT: ")
    assert original.message_id in notice.reason
    delivered = [r.key for r in records if r.topic == inbox_topic("H03")]
    assert original.message_id.encode() in delivered and copy.message_id.encode() not in delivered
