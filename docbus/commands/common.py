"""What several commands share: the org-code option, the PKI-folder check, loading an identity."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import typer
from cryptography import x509

from docbus.commands.token import TokenSpec
from docbus.errors import CliError, ExitCode
from docbus.settings import Settings
from producers.identity import EncryptionKey, NodeIdentity, official_slug
from producers.keys import SigningError
from schemas.orgcode import canonical_org_code

__all__ = ["ORG", "identity", "node_dir", "org_code", "require_pki"]


def org_code(value: str | None) -> str | None:
    """An org code as typed: upper case, dotted or edXML form; returned in dotted form."""
    if value is None:
        return None
    try:
        return canonical_org_code(value)
    except ValueError:
        hint = f": did you mean {value.upper()}?" if _valid(value.upper()) else ""
        raise typer.BadParameter(
            f"{value!r} is not an org code (upper case, dotted like H01 or G03.U001, or edXML form){hint}"
        ) from None


def _valid(code: str) -> bool:
    try:
        canonical_org_code(code)
    except ValueError:
        return False
    return True


ORG = typer.Option(..., "--org", envvar="DOCBUS_ORG", callback=org_code, help="this org's code")


def node_dir(settings: Settings, org: str) -> Path:
    return settings.home / "nodes" / org


def require_pki(settings: Settings) -> Path:
    """The PKI folder, or a one-line error saying where it was looked for."""
    folder = settings.pki
    if not (folder / "issued").is_dir():
        raise CliError(
            ExitCode.LOCAL,
            f"no PKI folder at {folder}: set DOCBUS_PKI_DIR (or DOCBUS_HOME), or create one: docbus pki init",
        )
    return folder


def identity(
    settings: Settings,
    org: str,
    official: str | None = None,
    token: TokenSpec | None = None,
    encryption_token: TokenSpec | None = None,
) -> NodeIdentity:
    """The org's seal (and an official's key) from the PKI folder, both certificates in their validity
    period; errors go to the central handler. With ``token`` the official's key (or, for a seal-only
    identity, the seal) is the token's, certified by the PKI folder's certificate (or --token-cert).
    With ``encryption_token`` the org's encryption key is that token's (--encryption-token),
    certified by the folder's ``issued/<CODE>/encryption.pem``, instead of the key file."""
    folder = require_pki(settings)
    secret = settings.pki_passphrase.get_secret_value()
    code = canonical_org_code(org)
    files = encryption_token is None  # else the key file, if one is left, is not read at all
    if token is None:
        found = NodeIdentity.from_pki(folder, code, secret, official, encryption=files)
    elif official is None:
        encryption = EncryptionKey.from_pki(folder, code, secret.encode()) if files else None
        found = NodeIdentity(code, token.provider(folder / "issued" / code / "org.pem"), None, encryption)
    else:
        base = NodeIdentity.from_pki(folder, code, secret, encryption=files)
        official_key = token.provider(_official_cert(folder, code, official))
        found = NodeIdentity(code, base.seal, official_key, base.encryption)
    if encryption_token is not None:
        cert = folder / "issued" / code / "encryption.pem"
        found = dataclasses.replace(found, encryption=encryption_token.encryption_key(cert))
    for role, key in (("seal", found.seal), ("official", found.official)):
        if key is not None:
            _in_validity(f"{found.org_code}'s {role}", key.chain[0])
    return found


def _official_cert(folder: Path, code: str, official: str) -> Path:
    root = folder / "issued"
    dirs = [root / code / "officials", *sorted(root.glob(f"{code}.*/officials"))]
    certs = [p for d in dirs for p in sorted(d.glob("*.pem")) if not p.name.endswith(".key.pem")]
    if official != "*":
        certs = [p for p in certs if p.stem == official_slug(official)]
    if not certs:
        raise SigningError(f"no official {official!r} for {code} under {root}")
    return certs[0]


def _in_validity(who: str, der: bytes) -> None:
    cert = x509.load_der_x509_certificate(der)
    now = datetime.now(UTC)
    end, start = cert.not_valid_after_utc, cert.not_valid_before_utc
    if now > end:
        raise CliError(ExitCode.TRUST, f"{who} certificate expired on {end:%Y-%m-%d %H:%M}Z "
                       f"(serial {cert.serial_number:x}): issue a new one with docbus pki")  # fmt: skip
    if now < start:
        raise CliError(ExitCode.TRUST, f"{who} certificate is valid only from {start:%Y-%m-%d %H:%M}Z: "
                       "check this machine's clock")  # fmt: skip
