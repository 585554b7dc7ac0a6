"""Signing on a PKCS#11 token (SoftHSM2): the token's signatures verify through the trust core.

SoftHSM2 is installed by the test command; if it is missing these tests fail, they do not skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pkcs11
import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from pkcs11 import Attribute, KeyType
from pkcs11.util.ec import encode_named_curve_parameters

from producers.keys import SigningError, make_signature
from producers.pkcs11_key import Pkcs11KeyProvider, token_public_key
from schemas.algorithms import P256_ORDER, Algorithm
from schemas.signature import Signature, SignerRole
from tests.trust.conftest import DATA, Pki, now

pytestmark = pytest.mark.softhsm

_MODULES = [
    os.environ.get("SOFTHSM2_MODULE", ""),
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
]
LABEL, PIN = "docbus-test", "123456"


def _module() -> str:
    found = [m for m in _MODULES if m and Path(m).exists()]
    assert found, "SoftHSM2 is not installed (apt-get install softhsm2)"
    assert shutil.which("softhsm2-util"), "softhsm2-util is not on PATH"
    return found[0]


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    module = _module()
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", LABEL, "--pin", PIN, "--so-pin", "654321"],
        check=True,
        capture_output=True,
    )
    tok = pkcs11.lib(module).get_token(token_label=LABEL)
    with tok.open(user_pin=PIN, rw=True) as session:
        session.generate_keypair(KeyType.RSA, 2048, store=True, label="rsa")
        params = session.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
        )
        params.generate_keypair(store=True, label="ec")
    yield module, tok
    if old is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = old


def _provider(pki: Pki, token: tuple[str, Any], label: str, alg: Algorithm | None) -> Pkcs11KeyProvider:
    module, tok = token
    with tok.open(user_pin=PIN) as session:
        public_key = token_public_key(session, label)
    issued = pki.authority.issue_official("G03", f"Token {label}", "Thứ trưởng", public_key=public_key)
    assert issued.key is None and issued.key_path is None  # the private key never left the token
    return Pkcs11KeyProvider(module, LABEL, PIN, label, issued.chain, alg)


@pytest.mark.parametrize(
    ("label", "alg"),
    [
        ("rsa", Algorithm.RSA_PKCS1V15_SHA256),
        ("rsa", Algorithm.RSA_PSS_SHA256),
        ("ec", None),
    ],
)
def test_token_signature_verifies(
    pki: Pki, token: tuple[str, Any], sign: Callable[..., Signature], label: str, alg: Algorithm | None
) -> None:
    with _provider(pki, token, label, alg) as provider:
        official = make_signature(provider, SignerRole.OFFICIAL, DATA)
    seal = sign(pki.seal, SignerRole.ORGANIZATION)
    doc = pki.policy().verify_document(DATA, [official, seal], "G03", now=now())
    assert doc.official.name == f"Token {label}"
    assert doc.official.algorithm.value == official.algorithm


def test_token_ecdsa_is_der_and_low_s(pki: Pki, token: tuple[str, Any]) -> None:
    with _provider(pki, token, "ec", None) as provider:
        assert provider.algorithm is Algorithm.ECDSA_P256_SHA256
        values = [provider.sign(DATA + bytes([i])) for i in range(40)]
    for value in values:
        _, s = decode_dss_signature(value)  # DER, not the token's raw r || s
        assert s <= P256_ORDER // 2


def test_wrong_pin_is_a_signing_error(pki: Pki, token: tuple[str, Any]) -> None:
    module, _ = token
    with pytest.raises(SigningError):
        Pkcs11KeyProvider(module, LABEL, "000000", "ec", pki.official.chain)


def test_certificate_of_another_key_is_refused(pki: Pki, token: tuple[str, Any]) -> None:
    module, _ = token
    with pytest.raises(SigningError, match="does not belong"):
        Pkcs11KeyProvider(module, LABEL, PIN, "ec", pki.official.chain)
