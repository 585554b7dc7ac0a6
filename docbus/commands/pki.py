"""``docbus pki ...``: run the ministry PKI from the command line (docs/TRUST.md).

The folder comes from ``--dir`` or DOCBUS_PKI_DIR, the passphrase from ``--passphrase`` or
DOCBUS_PKI_PASSPHRASE (never echoed).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from rich.console import Console
from rich.table import Table

from docbus.commands.token import PinEnv, PinFile, TokenKey, TokenLabel, TokenModule, token_options
from infra.pki.authority import Authority
from infra.pki.keys import KeyType
from infra.pki.tls import issue_tls, reissue_tls, revocation_gaps
from infra.security import issue_service_identities

__all__ = ["pki_app"]

pki_app = typer.Typer(no_args_is_help=True, help="Ministry PKI: CAs, org and official certificates, CRLs.")


def _out() -> Console:
    return Console(soft_wrap=True)  # made per command so COLUMNS set by the caller applies


Folder = Annotated[Path, typer.Option("--dir", envvar="DOCBUS_PKI_DIR", help="PKI folder")]
Passphrase = Annotated[
    str, typer.Option("--passphrase", envvar="DOCBUS_PKI_PASSPHRASE", prompt=True, hide_input=True)
]
Key = Annotated[KeyType, typer.Option("--key", help="key type of the new certificate")]
Days = Annotated[int, typer.Option("--days", help="validity in days")]


def _open(folder: Path, passphrase: str) -> Authority:
    try:
        return Authority(folder, passphrase.encode())
    except FileNotFoundError:
        raise typer.BadParameter(f"{folder} holds no PKI; run `docbus pki init` first") from None
    except (ValueError, TypeError) as exc:
        raise typer.BadParameter(f"cannot open the CA keys: {exc}") from None


@pki_app.command()
def init(folder: Folder = Path("pki"), passphrase: Passphrase = "", key: Key = KeyType.P256) -> None:
    """Create the root CA and the issuing CA, and publish the first CRLs."""
    try:
        authority = Authority.init(folder, passphrase.encode(), key_type=key)
    except (FileExistsError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from None
    _out().print(f"root CA    {authority.root_cert.subject.rfc4514_string()}")
    _out().print(f"issuing CA {authority.issuing_cert.subject.rfc4514_string()}")


@pki_app.command("issue-org")
def issue_org(
    code: str,
    name: Annotated[str, typer.Option("--name", help="organisation name")],
    folder: Folder = Path("pki"),
    passphrase: Passphrase = "",
    key: Key = KeyType.P256,
    days: Days = 730,
    token: TokenLabel = None,
    token_module: TokenModule = "",
    token_key: TokenKey = "",
    pin_file: PinFile = None,
    pin_env: PinEnv = "DOCBUS_TOKEN_PIN",
) -> None:
    """Issue an organisation seal certificate (key file + PKCS#12; with --token, for the token's key,
    which never leaves it)."""
    public_key = _token_key(token, token_module, token_key, pin_file, pin_env)
    issued = _open(folder, passphrase).issue_org(code, name, key_type=key, days=days, public_key=public_key)
    _out().print(f"{code}: serial {issued.cert.serial_number:x} -> {issued.cert_path}")


@pki_app.command("issue-encryption")
def issue_encryption(
    code: str,
    name: Annotated[str, typer.Option("--name", help="organisation name (default: its seal's)")] = "",
    folder: Folder = Path("pki"),
    passphrase: Passphrase = "",
    days: Days = 730,
    token: TokenLabel = None,
    token_module: TokenModule = "",
    token_key: TokenKey = "",
    pin_file: PinFile = None,
    pin_env: PinEnv = "DOCBUS_TOKEN_PIN",
) -> None:
    """Issue the org's encryption certificate again (P-256, keyAgreement; docs/adr/0004): for a new
    key file, or with --token for the P-256 key on the org's PKCS#11 token (no key file; the node
    then runs `docbus inbox --encryption-token`). The replaced certificate and key file are kept
    beside it as encryption.replaced-<serial>.*; publish the directory entry again so senders wrap
    to the new certificate."""
    public_key = _token_key(token, token_module, token_key, pin_file, pin_env)
    if public_key is not None and not (
        isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name == "secp256r1"
    ):
        raise typer.BadParameter(f"token key {token_key!r} is not a P-256 key: an encryption key is P-256")
    authority = _open(folder, passphrase)
    try:
        org_name = name or authority.find(code).name
    except KeyError:
        raise typer.BadParameter(f"{code} has no seal in {folder}: give --name") from None
    base = folder / "issued" / code
    replaced = _set_aside(base / "encryption.pem", base / "encryption.key.pem")
    try:
        issued = authority.issue_encryption(code, org_name, days=days, public_key=public_key)
    except BaseException:
        for path in replaced:  # put the replaced pair back: the org keeps a working key
            path.replace(
                base / ("encryption.key.pem" if path.name.endswith(".key.pem") else "encryption.pem")
            )
        raise
    where = "the token's key" if public_key is not None else f"a new key file {issued.key_path}"
    serial = f"{issued.cert.serial_number:x}"
    _out().print(f"{code}: encryption certificate serial {serial} for {where} -> {issued.cert_path}")
    for path in replaced:
        _out().print(f"  kept the replaced {path.name}")
    _out().print("publish the directory entry again (docbus directory load / publish): senders wrap to it")


def _set_aside(cert: Path, key: Path) -> list[Path]:
    """Rename the current encryption certificate (and key file) to encryption.replaced-<serial>.*."""
    if not cert.is_file():
        return []
    serial = f"{x509.load_pem_x509_certificates(cert.read_bytes())[0].serial_number:x}"
    moved = []
    for path, suffix in ((cert, ".pem"), (key, ".key.pem")):
        if path.is_file():
            target = path.with_name(f"encryption.replaced-{serial}{suffix}")
            path.replace(target)
            moved.append(target)
    return moved


@pki_app.command("issue-official")
def issue_official(
    code: str,
    name: Annotated[str, typer.Option("--name", help="full name")],
    position: Annotated[str, typer.Option("--position", help="position (chức vụ)")],
    folder: Folder = Path("pki"),
    passphrase: Passphrase = "",
    key: Key = KeyType.P256,
    days: Days = 730,
    token: TokenLabel = None,
    token_module: TokenModule = "",
    token_key: TokenKey = "",
    pin_file: PinFile = None,
    pin_env: PinEnv = "DOCBUS_TOKEN_PIN",
) -> None:
    """Issue a person's certificate, bound to the org code (or a sub-unit code); with --token, for
    the key on the official's PKCS#11 token (no key file is written)."""
    public_key = _token_key(token, token_module, token_key, pin_file, pin_env)
    authority = _open(folder, passphrase)
    issued = authority.issue_official(code, name, position, key_type=key, days=days, public_key=public_key)
    _out().print(f"{code} {name}: serial {issued.cert.serial_number:x} -> {issued.cert_path}")


def _token_key(token: str | None, module: str, key: str, pin_file: Path | None, pin_env: str) -> Any:
    """The public key of the token key to certify, or None for a new key file."""
    spec = token_options(token, module, key, pin_file, pin_env, None)
    return None if spec is None else spec.public_key()


@pki_app.command("issue-audit")
def issue_audit(
    code: Annotated[str, typer.Option("--code", help="org operating the audit log")] = "G03",
    folder: Folder = Path("pki"),
    passphrase: Passphrase = "",
    key: Key = KeyType.P256,
    days: Days = 730,
) -> None:
    """Issue the audit log's checkpoint signing certificate (audit EKU and policy only)."""
    issued = _open(folder, passphrase).issue_audit(code, key_type=key, days=days)
    _out().print(f"audit: serial {issued.cert.serial_number:x} -> {issued.cert_path}")


@pki_app.command("issue-tls")
def issue_tls_cmd(
    name: Annotated[str, typer.Argument(help="org code, docbus-processor, docbus-admin or docbus-broker")],
    server: Annotated[bool, typer.Option("--server", help="the broker's listener certificate")] = False,
    folder: Folder = Path("pki"),
    passphrase: Passphrase = "",
    key: Key = KeyType.P256,
    days: Days = 365,
) -> None:
    """Issue a TLS certificate for mTLS to the broker (CN=<name>, Kafka principal User:<name>)."""
    try:
        files = issue_tls(_open(folder, passphrase), name, server=server, key_type=key, days=days)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    _out().print(f"{name}: TLS certificate -> {files.cert} (Kafka PEM keystore {files.bundle})")


@pki_app.command("reissue-tls")
def reissue_tls_cmd(folder: Folder = Path("pki"), passphrase: Passphrase = "") -> None:
    """Certify the TLS logins again so the broker's CRL check can read them (a PKI folder made
    before it checked CRLs, or moved): same keys, same validity, this folder's CRL named; the
    issuing CA too, with its own key (nothing it signed changes). Idempotent."""
    authority = _open(folder, passphrase)
    done = reissue_tls(authority)
    if done.issuing_ca is not None:
        _out().print(f"issuing CA: serial {done.issuing_ca[0]} -> {done.issuing_ca[1]} (same key)")
    for path, (old, new) in done.logins.items():
        _out().print(f"{path.parent.name}: serial {old} -> {new} (same key) -> {path}")
    for path, why in done.skipped.items():
        _out().print(f"{path.parent.name}: {why}")
    left = revocation_gaps(folder)
    for gap in left:
        _out().print(f"[red]still not readable by the broker:[/] {gap}")
    if left:
        raise typer.Exit(4)
    if done.issuing_ca is None and not done.logins:
        _out().print("every live TLS login already names this folder's CRL: nothing to do")
        return
    _out().print(
        "restart the broker (docbus broker stop; docbus broker start) and give each node that "
        "keeps its TLS files outside this folder its new cert.pem (its key is unchanged)"
    )


@pki_app.command("issue-services")
def issue_services(folder: Folder = Path("pki"), passphrase: Passphrase = "") -> None:
    """TLS certificates of the broker and the service principals (processors, audit writer,
    directory authority, operator): what a secured `docbus broker start` needs."""
    for name, files in issue_service_identities(_open(folder, passphrase)).items():
        _out().print(f"{name}: TLS certificate -> {files.cert}")


@pki_app.command()
def revoke(
    target: Annotated[str, typer.Argument(help="serial (hex) or org code")],
    reason: Annotated[x509.ReasonFlags, typer.Option("--reason")] = x509.ReasonFlags.unspecified,
    folder: Folder = Path("pki"),
    passphrase: Passphrase = "",
) -> None:
    """Revoke a certificate (or every live one of an org code) and publish fresh CRLs."""
    try:
        hits = _open(folder, passphrase).revoke(target, reason)
    except KeyError as exc:
        raise typer.BadParameter(str(exc)) from None
    for e in hits:
        _out().print(f"revoked {e.kind} {e.code} {e.name} serial {e.serial}")


@pki_app.command()
def crl(
    folder: Folder = Path("pki"),
    passphrase: Passphrase = "",
    next_update_hours: Annotated[float, typer.Option("--next-update-hours")] = 24.0,
) -> None:
    """Publish fresh CRLs of both CAs (crl/root.crl.pem, crl/issuing.crl.pem)."""
    out = _open(folder, passphrase).publish_crl(next_update=timedelta(hours=next_update_hours))
    _out().print(f"CRLs written to {out}")


@pki_app.command("list")
def list_(folder: Folder = Path("pki"), passphrase: Passphrase = "") -> None:
    """Every certificate issued, with its status."""
    table = Table("serial", "kind", "code", "name", "position", "not after", "status")
    for e in _open(folder, passphrase).entries:
        status = f"revoked {e.revoked_at} ({e.revocation_reason})" if e.revoked_at else "valid"
        table.add_row(e.serial[:16], e.kind, e.code, e.name, e.position or "", e.not_after[:10], status)
    _out().print(table)
