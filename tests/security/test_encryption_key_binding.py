"""An encryption key is loaded only with the certificate that certifies it (a file key or a token's):
a mismatch is a local error at start (SigningError, exit 4), never a refusal (02, KEY_INVALID) of
every encrypted document that arrives."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from infra.pki.authority import Authority
from producers.identity import EncryptionKey
from producers.keys import SigningError

PASSPHRASE = b"binding-test"


def test_a_key_file_with_another_keys_certificate_is_refused_at_load(tmp_path: Path) -> None:
    authority = Authority.init(tmp_path / "pki", PASSPHRASE)
    a = authority.issue_encryption("H01", "Sở A")
    b = authority.issue_encryption("H02", "Sở B")
    assert a.key_path is not None and b.key_path is not None
    loaded = EncryptionKey.from_pem(a.key_path, a.cert_path, PASSPHRASE)
    assert loaded.certificate == a.cert.public_bytes(Encoding.DER)
    with pytest.raises(SigningError, match="does not certify this encryption key"):
        EncryptionKey.from_pem(a.key_path, b.cert_path, PASSPHRASE)
