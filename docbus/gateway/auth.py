"""Who may call the gateway: OAuth2 client credentials (RFC 6749 §4.4) with hashed secrets.

Each e-office system is a client with an id, a secret kept only as a scrypt hash in
``<gateway>/clients.json``, and the org codes it may act for. It trades id and secret at
``POST /oauth/token`` for a bearer token (random, kept in memory as its SHA-256, expiring); every
other call carries the token, and a call about an org the client is not granted is refused.
Why not mTLS: docs/adr/0002-gateway-fastapi.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from producers.node_state import atomic_write
from schemas.orgcode import canonical_org_code

__all__ = ["Client", "ClientRegistry", "TokenIssuer", "add_client", "hash_secret", "secret_matches"]

_N, _R, _P = 2**14, 8, 1  # scrypt cost: ~50 ms and 16 MiB per check


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    enc = base64.urlsafe_b64encode
    return f"scrypt${_N}${_R}${_P}${enc(salt).decode()}${enc(digest).decode()}"


def secret_matches(stored: str, secret: str) -> bool:
    try:
        kind, n, r, p, salt_b64, digest_b64 = stored.split("$")
        salt, want = base64.urlsafe_b64decode(salt_b64), base64.urlsafe_b64decode(digest_b64)
        got = hashlib.scrypt(secret.encode(), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(want))
    except (ValueError, TypeError):
        return False
    return kind == "scrypt" and hmac.compare_digest(got, want)


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    orgs: frozenset[str]  # dotted org codes
    secret_hash: str = ""

    def may_act_for(self, org: str) -> bool:
        return org in self.orgs


class ClientRegistry:
    """The clients file, read at start-up (``docbus gateway client add`` writes it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._clients: dict[str, Client] = {}
        self.reload()

    def reload(self) -> None:
        if not self.path.is_file():
            self._clients = {}
            return
        doc = json.loads(self.path.read_text(encoding="utf-8"))
        self._clients = {
            c["client_id"]: Client(c["client_id"], frozenset(c["orgs"]), c["secret"]) for c in doc["clients"]
        }

    def authenticate(self, client_id: str, secret: str) -> Client | None:
        client = self._clients.get(client_id)
        if client is None:
            secret_matches(hash_secret("x", b"0" * 16), secret)  # same cost whether the id exists or not
            return None
        return client if secret_matches(client.secret_hash, secret) else None


def add_client(path: Path, client_id: str, orgs: list[str], secret: str | None = None) -> str:
    """Add (or replace) a client; returns its secret, which is stored only as a hash."""
    secret = secret or secrets.token_urlsafe(32)
    doc = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"clients": []}
    doc["clients"] = [c for c in doc["clients"] if c["client_id"] != client_id]
    codes = sorted({canonical_org_code(o) for o in orgs})
    doc["clients"].append({"client_id": client_id, "orgs": codes, "secret": hash_secret(secret)})
    atomic_write(path, json.dumps(doc, indent=2).encode())
    path.chmod(0o600)
    return secret


class TokenIssuer:
    """Bearer tokens in memory: a restart asks every client to fetch a new one."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._tokens: dict[bytes, tuple[Client, float]] = {}

    def issue(self, client: Client) -> str:
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        self._tokens = {k: v for k, v in self._tokens.items() if v[1] > now}  # forget expired ones
        self._tokens[hashlib.sha256(token.encode()).digest()] = (client, now + self.ttl)
        return token

    def client(self, token: str) -> Client | None:
        found = self._tokens.get(hashlib.sha256(token.encode()).digest())
        if found is None or found[1] <= time.monotonic():
            return None
        return found[0]
