"""`docbus edxml import FILE` and `docbus edxml export MESSAGE_ID`: edXML (QCVN 102:2016) packages
in and out of a node (docs/EDXML.md).

Import maps the package, reports its own XMLDSig signature, then signs and sends it like
`docbus send` (the package's From must be the node's org). Export writes a document from the node's
inbox store back as a package, signed with the org's seal key when asked.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from rich.console import Console

from consumers.inbox.store import InboxStore
from consumers.trust import TrustError
from docbus.commands.common import node_dir
from docbus.pki_folder import TrustFiles
from docbus.settings import Settings
from producers.edxml import EdxmlPackage, SignatureVerdict, export_package, parse_package
from producers.identity import NodeIdentity
from producers.keys import SigningError
from producers.publisher import PublishError
from producers.reader import ReadError
from producers.send import SendResult, send_document
from schemas.envelope import parse_envelope
from schemas.errors import DocbusError
from schemas.orgcode import canonical_org_code

__all__ = ["edxml_app", "seal_key"]

out = Console()
err = Console(stderr=True)
edxml_app = typer.Typer(no_args_is_help=True, help="edXML (QCVN 102:2016) packages in and out of this node")


def _signature(pkg: EdxmlPackage, require: bool) -> None:
    s = pkg.signature
    legacy = " (legacy SHA-1)" if s.legacy else ""
    who = f" by {s.subject}" if s.subject else ""
    out.print(f"package signature  {s.verdict.value}{who}{legacy}" + (f" — {s.detail}" if s.detail else ""))
    if s.verdict is SignatureVerdict.INVALID:
        err.print("[red]not sent:[/] the package's signature does not verify")
        raise typer.Exit(1)
    if require and s.verdict is SignatureVerdict.ABSENT:
        err.print("[red]not sent:[/] the package is not signed (--require-signature)")
        raise typer.Exit(1)


@edxml_app.command("import")
def import_package(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="the edXML package")],
    org: str = typer.Option(
        ..., "--org", envvar="DOCBUS_ORG", help="this node's org code (the package's From)"
    ),
    official: str = typer.Option("*", "--official", help="official's name or slug; * = the first"),
    require_signature: bool = typer.Option(False, "--require-signature", help="refuse an unsigned package"),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="wait for the bus's 01/02 notice"),
    timeout: float = typer.Option(30.0, "--timeout", help="seconds to wait for the notice"),
) -> None:
    """Send an edXML package as a signed envelope (exit 1: refused or failed; 3: no notice in time)."""
    settings = Settings()
    try:
        pkg = parse_package(file.read_bytes())
        _signature(pkg, require_signature)
        identity = NodeIdentity.from_pki(
            settings.pki, org, settings.pki_passphrase.get_secret_value(), official
        )
        state = node_dir(settings, identity.org_code) / "state"
        policy = TrustFiles(settings.pki).policy
        sending = send_document(
            identity,
            pkg,
            kafka=settings.connection(identity.org_code),
            state_dir=state,
            wait=timeout if wait else None,
            policy=policy,
        )
        result = asyncio.run(sending)
    except (DocbusError, SigningError, PublishError, ReadError, TrustError, LookupError, OSError) as exc:
        err.print(f"[red]not sent:[/] {exc}")
        raise typer.Exit(1) from None
    _report(result, wait)


def _report(result: SendResult, waited: bool) -> None:
    out.print(f"message id   {result.message_id}")
    out.print(f"document id  {result.document_id}")
    if not waited:
        return
    if result.outcome is None:
        err.print("[yellow]no notice from the bus yet[/] (see `docbus inbox` or `docbus status`)")
        raise typer.Exit(3)
    if not result.outcome.accepted:
        err.print(f"[red]rejected by the bus:[/] {result.outcome.reason}")
        raise typer.Exit(1)
    out.print(f"[green]accepted by the bus[/] at {result.outcome.at.isoformat()}")


def seal_key(
    settings: Settings, code: str
) -> tuple[rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, list[x509.Certificate]]:
    folder = settings.pki / "issued" / code
    try:
        key = serialization.load_pem_private_key(
            (folder / "org.key.pem").read_bytes(), settings.pki_passphrase.get_secret_value().encode()
        )
        chain = x509.load_pem_x509_certificates((folder / "org.pem").read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise SigningError(f"cannot load the seal key of {code}: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SigningError(f"{code}: XMLDSig needs an RSA or EC P-256 seal key, not {type(key).__name__}")
    return key, chain


@edxml_app.command("export")
def export(
    message_id: Annotated[str, typer.Argument(help="a document in this node's inbox store")],
    org: str = typer.Option(..., "--org", envvar="DOCBUS_ORG", help="this node's org code"),
    output: Annotated[
        Path | None, typer.Option("--out", "-o", help="file to write (<message id>.edxml)")
    ] = None,
    sign: bool = typer.Option(False, "--sign/--no-sign", help="sign the package with the org's seal key"),
) -> None:
    """Write a received document back as an edXML package."""
    settings = Settings()
    try:
        code = canonical_org_code(org)
        store = InboxStore(node_dir(settings, code) / "inbox")
        if not store.has(message_id):
            err.print(f"[red]not found:[/] {message_id} is not in {code}'s inbox store (run `docbus inbox`)")
            raise typer.Exit(1)
        env = parse_envelope(store.envelope_bytes(message_id))
        key, chain = seal_key(settings, code) if sign else (None, None)
        data = export_package(env, key=key, chain=chain)
        target = output or Path(f"{message_id}.edxml")
        target.write_bytes(data)
    except (DocbusError, SigningError, OSError, ValueError) as exc:
        err.print(f"[red]not exported:[/] {exc}")
        raise typer.Exit(1) from None
    out.print(f"wrote {target} ({len(data)} bytes{', signed' if sign else ''})")
