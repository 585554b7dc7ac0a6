"""The PKI-folder loader never stops on a bad file: every malformed file of cryptography-vectors'
x509/custom, dropped into the CA, anchor and CRL folders, is skipped with a warning naming it, and
documents still verify."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import cryptography_vectors
import pytest

from consumers.trust import TrustError
from consumers.trust.der import parse_cert, parse_crl
from docbus.pki_folder import TrustFiles
from schemas.signature import Signature, SignerRole
from tests.trust.conftest import DATA, Pki, now

CUSTOM = Path(cryptography_vectors.__file__).parent / "x509" / "custom"
FILES = sorted(p for p in CUSTOM.iterdir() if p.is_file())


def _refused(parse: Callable[[bytes], object], data: bytes) -> bool:
    try:
        parse(data)
    except TrustError:
        return True
    return False


MALFORMED_CERTS = [p for p in FILES if _refused(parse_cert, p.read_bytes())]
MALFORMED_CRLS = [p for p in FILES if _refused(parse_crl, p.read_bytes())]


def test_the_vectors_hold_malformed_files() -> None:
    assert len(MALFORMED_CERTS) > 10 and len(MALFORMED_CRLS) > 10


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_a_malformed_file_is_skipped_and_named(
    path: Path, pki: Pki, sign: Callable[..., Signature], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "pki"
    shutil.copytree(pki.authority.folder, folder)
    targets = [folder / "ca" / path.name, folder / "anchors" / "official" / path.name]
    targets.append(folder / "crl" / (path.stem + ".crl"))
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    with caplog.at_level(logging.WARNING, logger="docbus.pki_folder"):
        trust = TrustFiles(folder)
        trust.refresh()
    named = caplog.text
    if path in MALFORMED_CERTS:
        assert str(targets[0]) in named and str(targets[1]) in named
    if path in MALFORMED_CRLS:
        assert str(targets[2]) in named
    sigs = [sign(pki.official, SignerRole.OFFICIAL), sign(pki.seal, SignerRole.ORGANIZATION)]
    trust.policy.verify_document(DATA, sigs, "G03", now=now())
