"""``--token``: sign with a key on a PKCS#11 token (an official's USB token, an HSM; SoftHSM2 in tests).

The options name the module (``--token-module`` or DOCBUS_PKCS11_MODULE), the token (its label, or
``slot:<id>``) and the key's label (``--token-key``). The PIN comes from ``--pin-file``, else the
environment variable named by ``--pin-env`` (DOCBUS_TOKEN_PIN by default) when it is set, else a
prompt; never from the command line itself. The key's certificate is the one of the PKI folder
(``docbus pki issue-official --token`` writes it there), or ``--token-cert``.

``--encryption-token`` / ``--encryption-token-key`` (DOCBUS_ENCRYPTION_TOKEN, _KEY) name the
org's encryption key on a token the same way (docs/adr/0004: the P-256 key that opens large
payloads' key wraps); the module and the PIN options are shared. Its certificate is the PKI
folder's ``issued/<CODE>/encryption.pem`` (``docbus pki issue-encryption --token`` writes it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pkcs11
import typer
from cryptography import x509

from docbus.errors import CliError, ExitCode
from producers.identity import EncryptionKey
from producers.keys import SigningError
from producers.pkcs11_key import Pkcs11KeyProvider, token_encryption_key, token_public_key

__all__ = ["TokenSpec", "encryption_token_options", "token_options"]


@dataclass(frozen=True)
class TokenSpec:
    token: str
    module: str
    key: str
    pin_file: Path | None = None
    pin_env: str = "DOCBUS_TOKEN_PIN"
    cert: Path | None = None

    def pin(self) -> str:
        if self.pin_file is not None:
            try:
                return self.pin_file.read_text().strip()
            except OSError as exc:
                raise CliError(
                    ExitCode.LOCAL, f"cannot read the PIN file {self.pin_file}: {exc.strerror}"
                ) from None
        if os.environ.get(self.pin_env):
            return os.environ[self.pin_env]
        return str(typer.prompt(f"PIN of token {self.token}", hide_input=True))

    def _lib(self) -> Any:
        if not self.module:
            raise CliError(
                ExitCode.USAGE, "--token needs the PKCS#11 module: --token-module or DOCBUS_PKCS11_MODULE"
            )
        try:
            return pkcs11.lib(self.module)
        except (RuntimeError, OSError, pkcs11.PKCS11Error) as exc:
            raise CliError(ExitCode.LOCAL, f"cannot load the PKCS#11 module {self.module}: {exc}") from None

    def label(self) -> str:
        """The token's label (``slot:<id>`` looked up)."""
        if not self.token.startswith("slot:"):
            return self.token
        wanted = self.token.removeprefix("slot:")
        for slot in self._lib().get_slots(token_present=True):
            if str(slot.slot_id) == wanted:
                return str(slot.get_token().label)
        raise CliError(ExitCode.LOCAL, f"no token in slot {wanted} of {self.module}")

    def public_key(self) -> Any:
        """The token key's public key (to certify it)."""
        try:
            token = self._lib().get_token(token_label=self.label())
            with token.open(user_pin=self.pin()) as session:
                return token_public_key(session, self.key)
        except pkcs11.PKCS11Error as exc:
            raise SigningError(f"token {self.token!r}: {type(exc).__name__} {exc}") from None

    def provider(self, cert: Path) -> Pkcs11KeyProvider:
        """The signing key, with the certificate chain of ``cert`` (or --token-cert)."""
        path = self.cert or cert
        try:
            chain = x509.load_pem_x509_certificates(path.read_bytes())
        except OSError as exc:
            raise SigningError(f"cannot load {path}: [Errno 2] No such file ({exc.strerror})") from None
        self._lib()
        return Pkcs11KeyProvider(self.module, self.label(), self.pin(), self.key, chain)

    def encryption_key(self, cert: Path) -> EncryptionKey:
        """The org's encryption key on the token, certified by ``cert`` (its encryption.pem)."""
        self._lib()
        return token_encryption_key(self.module, self.label(), self.pin(), self.key, cert)


TokenLabel = Annotated[
    str | None, typer.Option("--token", help="sign on a PKCS#11 token: its label, or slot:<id>")
]
TokenModule = Annotated[
    str, typer.Option("--token-module", envvar="DOCBUS_PKCS11_MODULE", help="the PKCS#11 module (.so)")
]
TokenKey = Annotated[str, typer.Option("--token-key", help="label of the key on the token")]
PinFile = Annotated[Path | None, typer.Option("--pin-file", help="read the token PIN from this file")]
PinEnv = Annotated[
    str, typer.Option("--pin-env", help="environment variable holding the PIN (else a prompt)")
]
TokenCert = Annotated[
    Path | None, typer.Option("--token-cert", help="PEM chain of the token key (default: the PKI folder's)")
]


EncryptionToken = Annotated[
    str | None,
    typer.Option("--encryption-token", envvar="DOCBUS_ENCRYPTION_TOKEN",
                 help="the org's encryption key is on this PKCS#11 token: its label, or slot:<id>"),
]  # fmt: skip
EncryptionTokenKey = Annotated[
    str,
    typer.Option("--encryption-token-key", envvar="DOCBUS_ENCRYPTION_TOKEN_KEY",
                 help="label of the encryption key on that token"),
]  # fmt: skip


def encryption_token_options(
    token: str | None, module: str, key: str, pin_file: Path | None, pin_env: str
) -> TokenSpec | None:
    if token is None:
        return None
    if not key:
        detail = "--encryption-token needs --encryption-token-key, the label of the key on the token"
        raise CliError(ExitCode.USAGE, detail)
    return TokenSpec(token, module, key, pin_file, pin_env)


def token_options(
    token: str | None, module: str, key: str, pin_file: Path | None, pin_env: str, cert: Path | None
) -> TokenSpec | None:
    if token is None:
        return None
    if not key:
        raise CliError(ExitCode.USAGE, "--token needs --token-key, the label of the key on the token")
    return TokenSpec(token, module, key, pin_file, pin_env, cert)
