"""What several commands share: the org-code option, the PKI-folder check, loading an identity."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from cryptography import x509

from docbus.errors import CliError, ExitCode
from docbus.settings import Settings
from producers.identity import NodeIdentity
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


def identity(settings: Settings, org: str, official: str | None = None) -> NodeIdentity:
    """The org's seal (and an official's key) from the PKI folder, both certificates in their validity
    period; errors go to the central handler."""
    folder = require_pki(settings)
    found = NodeIdentity.from_pki(folder, org, settings.pki_passphrase.get_secret_value(), official)
    for role, key in (("seal", found.seal), ("official", found.official)):
        if key is not None:
            _in_validity(f"{found.org_code}'s {role}", key.chain[0])
    return found


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
