"""Exit codes and the one place an exception becomes a one-line message (docs/OPERATIONS.md §Exit codes).

Every command lets its errors rise; ``docbus.cli.main`` hands them to :func:`explain`, prints the
line it returns on stderr and exits with its code. ``--verbose`` adds the traceback.
"""

from __future__ import annotations

import os
from enum import IntEnum

from aiokafka.errors import KafkaError

from producers.keys import SigningError
from schemas.errors import TransportError, TrustError, is_refusal
from schemas.reasons import Reason

__all__ = ["CliError", "ExitCode", "explain"]


class ExitCode(IntEnum):
    OK = 0
    REFUSED = 1  # the bus, a recipient or a check said no; or nothing matched what was asked
    USAGE = 2  # a wrong option, argument or org code
    PENDING = 3  # no answer yet: no notice in time, nothing published, not running
    LOCAL = 4  # local files: PKI folder, key, certificate, passphrase, token, PIN
    BROKER = 5  # the broker is down, at another address, or lacks a topic
    TRUST = 6  # a certificate is expired, revoked or not trusted
    INTERNAL = 70  # a bug: run again with --verbose and report the traceback


class CliError(Exception):
    """A command's own refusal: what is wrong and what to do, with its exit code."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code


_TRUST_HINTS = {
    Reason.CERT_EXPIRED: "a new certificate is needed: docbus pki issue-official / issue-org",
    Reason.CERT_NOT_YET_VALID: "check this machine's clock, or wait until the certificate is valid",
    Reason.CERT_REVOKED: "the certificate was revoked: sign with a valid key (docbus pki list)",
}


def _bootstrap() -> str:
    return os.environ.get("DOCBUS_BOOTSTRAP", "127.0.0.1:19092")


def _signing(exc: SigningError) -> tuple[ExitCode, str]:
    text = str(exc)
    if "Incorrect password" in text or "could not decrypt" in text:
        return ExitCode.LOCAL, f"wrong passphrase: {text.splitlines()[0]}; check DOCBUS_PKI_PASSPHRASE"
    if "PinIncorrect" in text or "PinInvalid" in text or "PinLenRange" in text:
        return ExitCode.LOCAL, f"wrong PIN for the token: {text}; check the PIN file or variable"
    if "No such file" in text or "no official" in text:
        hint = "issue it (docbus pki) or check DOCBUS_PKI_DIR"
        return ExitCode.LOCAL, f"missing key or certificate: {text}; {hint}"
    return ExitCode.LOCAL, f"key: {text}"


def _usage(exc: BaseException) -> bool:
    return getattr(exc, "exit_code", None) == 2 and callable(getattr(exc, "format_message", None))


def explain(exc: BaseException) -> tuple[ExitCode, str]:
    """The exit code and the one line to print for ``exc``."""
    if isinstance(exc, CliError):
        return exc.code, str(exc)
    if _usage(exc):  # a click UsageError (typer vendors click and exports no UsageError)
        ctx = getattr(exc, "ctx", None)
        where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        return ExitCode.USAGE, f"{exc.format_message()}{where}"  # type: ignore[attr-defined]
    if isinstance(exc, SigningError):
        return _signing(exc)
    if isinstance(exc, TrustError):
        hint = _TRUST_HINTS.get(exc.reason, "check the PKI folder's anchors and CRLs (docs/TRUST.md)")
        return ExitCode.TRUST, f"{exc}; {hint}"
    if is_refusal(exc):
        return ExitCode.REFUSED, str(exc)
    if isinstance(exc, (TransportError, KafkaError, ConnectionError)):
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return ExitCode.BROKER, (
            f"broker: {first}; is it up at {_bootstrap()}? (docbus broker status, DOCBUS_BOOTSTRAP)"
        )
    if isinstance(exc, TimeoutError):
        return ExitCode.BROKER, f"no answer in time from the broker at {_bootstrap()} (docbus broker status)"
    if isinstance(exc, OSError):
        return ExitCode.LOCAL, f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
    if isinstance(exc, ValueError) and "org code" in str(exc):
        return ExitCode.USAGE, f"{exc}: codes are upper case, dotted (H01, G03.U001) or edXML (000.00.00.H01)"
    if isinstance(exc, LookupError):
        return ExitCode.REFUSED, str(exc).strip("'\"")
    return ExitCode.INTERNAL, f"internal error {type(exc).__name__}: {exc} (run with --verbose and report it)"
