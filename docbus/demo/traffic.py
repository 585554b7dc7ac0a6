"""The demo's letters and who sends them: the ministry's directive to every department, dispatches
between universities, and two envelopes the bus must refuse.

Documents are known by their document id (sender, date, số/ký hiệu) before they are sent, so the
recipients' side can count a copy that arrives before its sender hears back from the bus.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

from consumers.bus.decide.routing import route
from consumers.trust import TrustPolicy
from docbus.demo.inboxes import Clerk
from docbus.demo.tally import DocumentTally, Rejection, Tally
from docbus.demo.world import LOST_KEY, DemoWorld, university
from producers.builder import DocumentDraft, build_envelope, sign_envelope
from producers.publisher import Publisher
from producers.send import NoticeWatcher, Outcome, Sender
from schemas.codec import encode
from schemas.connection import KafkaConnection
from schemas.document import DocumentType, Priority, SteeringType, format_document_id
from schemas.envelope import Envelope
from schemas.payload import Payload
from schemas.receipt import StatusCode
from schemas.topics import inbox_topic

__all__ = ["REFUSALS", "TAMPERED", "Letter", "clerk_for", "letters", "refusers", "send_letters"]

TAMPERED = "H03"
REFUSALS = (
    "Sai thẩm quyền ban hành: đề nghị Bộ ban hành lại",
    "Thiếu phụ lục kèm theo chỉ thị",
    "Văn bản gửi nhầm đơn vị",
    "Trích yếu không khớp với nội dung tệp đính kèm",
    "Đề nghị bổ sung chữ ký số của người có thẩm quyền",
)


@dataclass(frozen=True)
class Letter:
    label: str
    sender: str
    draft: DocumentDraft
    bad: str = ""  # how it is spoiled: "" (a good letter), "revoked", "tampered"
    why: str = ""
    scan_mb: int = 0  # a scanned appendix of this many MB goes with it, as chunks on docbus.blobs

    def document_id(self, today: date) -> str:
        return format_document_id(self.sender, today, self.draft.code_number, self.draft.code_notation)


def _pdf(name: str, text: str) -> Payload:
    return Payload.of(name, "application/pdf", f"%PDF-1.7\n% {text}\n".encode() * 40)


SCAN_MB = 6


def _scanned(folder: Path, mb: int) -> Path:
    """A stand-in for a scanned PDF appendix: incompressible bytes behind a PDF header."""
    path = folder / "phu-luc-scan.pdf"
    folder.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.write(b"%PDF-1.7\n% scanned appendix\n")
        for _ in range(mb):
            f.write(os.urandom(1_000_000))
    return path


def _draft(
    kind: DocumentType, number: str, notation: str, subject: str, today: date, **kw: object
) -> DocumentDraft:
    file = f"{number}-{notation}.pdf".replace("/", "-")
    return DocumentDraft(kind, number, notation, subject, _pdf(file, subject), promulgation_date=today, **kw)  # type: ignore[arg-type]


def letters(universities: int, today: date) -> list[Letter]:
    directive = _draft(
        DocumentType.CHI_THI, "12", "CT-BGDĐT",
        "Về nhiệm vụ trọng tâm năm học 2026-2027 của ngành Giáo dục", today,
        groups=("all-departments",), priority=Priority.URGENT, steering_type=SteeringType.STEERING,
    )  # fmt: skip
    out = [Letter("directive 12/CT-BGDĐT", "G03", directive)]
    subjects = ("V/v phối hợp đào tạo thạc sĩ", "V/v trao đổi giảng viên thỉnh giảng",
                "V/v tổ chức hội thảo khoa học chung", "V/v tuyển sinh liên thông năm 2026")  # fmt: skip
    n = min(universities, 4)
    for i in range(1, n + 1):
        to = [university(i % n + 1)] + (["H64"] if i == n else [])  # H64 is closed: it reaches H01
        notation = f"ĐH{i:02d}-HTQT"
        draft = _draft(
            DocumentType.CONG_VAN, str(14 + i), notation, subjects[i - 1], today, recipients=tuple(to)
        )
        scan = SCAN_MB if i == 1 else 0  # the first one carries a scanned appendix (ENVELOPE.md §7)
        label = f"công văn {14 + i}/{notation}" + (f" + {scan} MB scanned appendix" if scan else "")
        out.append(Letter(label, university(i), draft, scan_mb=scan))
    revoked = _draft(
        DocumentType.BAO_CAO, "45", "BC-SGDĐT", "Báo cáo tổng kết năm học", today, recipients=("G03",)
    )
    out.append(Letter("báo cáo 45/BC-SGDĐT", LOST_KEY, revoked, "revoked",
                      "signed with the Giám đốc's revoked certificate (key lost)"))  # fmt: skip
    tampered = _draft(
        DocumentType.BAO_CAO, "46", "BC-SGDĐT", "Báo cáo số liệu tuyển sinh", today, recipients=("G03",)
    )
    out.append(Letter("báo cáo 46/BC-SGDĐT", TAMPERED, tampered, "tampered",
                      "payload bytes changed after signing"))  # fmt: skip
    return out


def refusers(departments: list[str]) -> dict[str, str]:
    """About 5 of 63 departments refuse the directive (02), spread out, each with a reason."""
    k = max(1, round(len(departments) * 5 / 63))
    picked = [departments[int((j + 0.5) * len(departments) / k)] for j in range(k)]
    return {code: REFUSALS[j % len(REFUSALS)] for j, code in enumerate(picked)}


def clerk_for(refusing: dict[str, str]) -> Clerk:
    def clerk(org: str, env: Envelope) -> tuple[StatusCode, str | None]:
        if env.document.document_type is DocumentType.CHI_THI and org in refusing:
            return StatusCode.REJECTED, refusing[org]
        return StatusCode.ACCEPTED, None

    return clerk


@dataclass
class Senders:
    world: DemoWorld
    #: the broker as an org reaches it, by org code
    connect: Callable[[str], KafkaConnection]
    state: Path
    policy: TrustPolicy
    wait: float
    today: date = field(default_factory=lambda: datetime.now(UTC).date())

    async def send(self, letter: Letter, tally: Tally) -> None:
        doc_id = letter.document_id(self.today)
        if letter.bad:
            tally.rejections[doc_id] = Rejection(letter.label, "", letter.sender, letter.why)
        else:
            d = letter.draft
            plan = route(self.world.snapshot, letter.sender, d.recipients, d.groups)
            tally.documents[doc_id] = DocumentTally(letter.label, "", doc_id, letter.sender, plan.recipients)
        if letter.bad == "tampered":
            message_id, outcome = await self._tampered(letter)
        else:
            identity = self.world.identity(letter.sender, signs=True)
            state = self.state / "nodes" / letter.sender / "state"
            async with Sender(identity, self.connect(letter.sender), state, policy=self.policy) as sender:
                draft = letter.draft
                if letter.scan_mb:  # uploaded as chunks first, then the envelope references them
                    appendix = await sender.attach(_scanned(self.state / "scans", letter.scan_mb))
                    draft = replace(draft, attachments=(*draft.attachments, appendix))
                result = await sender.send(draft, wait=self.wait, directory_snapshot=self.world.snapshot.hash)
            message_id, outcome = result.message_id, result.outcome
        notice = _notice(outcome)
        if letter.bad:
            tally.rejections[doc_id].message_id, tally.rejections[doc_id].notice = message_id, notice
        else:
            tally.documents[doc_id].message_id, tally.documents[doc_id].notice = message_id, notice

    async def _tampered(self, letter: Letter) -> tuple[str, Outcome | None]:
        """Signed properly, then the payload's bytes changed (same size): no node tool does this."""
        identity = self.world.identity(letter.sender, signs=True)
        env = build_envelope(identity, letter.draft, directory_snapshot=self.world.snapshot.hash)
        signed, _ = sign_envelope(identity, env)
        data = bytearray(signed.payload.data)
        data[20:26] = b"999999"  # a figure of the report altered in transit
        spoiled = signed.model_copy(
            update={"payload": signed.payload.model_copy(update={"data": bytes(data)})}
        )
        watcher = NoticeWatcher(self.connect(letter.sender), inbox_topic(letter.sender), self.policy)
        await watcher.start()
        try:
            kafka = self.connect(letter.sender)
            async with Publisher(kafka, client_id=f"docbus-node-{letter.sender}") as pub:
                await pub.publish_envelope(spoiled, encode(spoiled))
            return signed.message_id, await watcher.wait_for(signed.message_id, self.wait)
        finally:
            await watcher.stop()


def _notice(outcome: Outcome | None) -> str:
    if outcome is None:
        return ""
    return outcome.status.value + (f" {outcome.reason}" if outcome.reason else "")


async def send_letters(senders: Senders, tally: Tally, all_letters: list[Letter]) -> None:
    """The directive first, then everything else at once (each sender keeps its own chain)."""
    first, rest = all_letters[0], all_letters[1:]
    await senders.send(first, tally)
    await asyncio.gather(*(senders.send(letter, tally) for letter in rest))
