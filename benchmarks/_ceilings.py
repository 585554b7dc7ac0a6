"""What every benchmark shares: timed rates, the raw ``cryptography`` verify of one signature, the
raw "full check" of an envelope, and a description of the machine the run happened on."""

from __future__ import annotations

import hashlib
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import cryptography
from cryptography import x509
from cryptography.hazmat.backends.openssl.backend import backend
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from schemas.algorithms import Algorithm
from schemas.canonical import envelope_signing_input
from schemas.codec import decode
from schemas.envelope import Envelope

__all__ = ["full_check", "machine", "paired_rates", "rate", "rate_over", "ratio", "raw_verifier", "rss_mb"]


def rate(fn: Callable[[], object], seconds: float, repeats: int = 3) -> float:
    """Median calls per second over ``repeats`` runs of about ``seconds`` each. The clock is read
    after chunks of calls that double up to 50: a fast call is timed 50 at a time, and a slow one
    (an uncached chain validation, ~10 ms) no longer runs 50 times in a run meant to take 20 ms."""
    results = []
    for _ in range(repeats):
        n, chunk, start = 0, 1, time.perf_counter()
        deadline = start + seconds
        while True:
            for _ in range(chunk):
                fn()
            n += chunk
            now = time.perf_counter()
            if now >= deadline:
                break
            chunk = min(2 * chunk, 50)
        results.append(n / (now - start))
    return statistics.median(results)


def paired_rates(
    measured: Callable[[], object], ceiling: Callable[[], object], seconds: float, rounds: int = 5
) -> tuple[float, float]:
    """Median rates of ``measured`` and ``ceiling``, timed in alternating short runs: on a shared
    machine the load drifts within seconds, and alternating lets the drift hit both alike."""
    pairs = [(rate(measured, seconds / rounds, 1), rate(ceiling, seconds / rounds, 1)) for _ in range(rounds)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def rate_over(n: int, fn: Callable[[], object], repeats: int = 3) -> float:
    """``n`` items per call of ``fn``: the median items per second over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return n / statistics.median(times)


def ratio(value: float, ceiling: float) -> float:
    return round(value / ceiling, 3) if ceiling else 0.0


def raw_verifier(alg: Algorithm, key: object, value: bytes, data: bytes) -> Callable[[], None]:
    """One bare ``cryptography`` verify of ``value`` over ``data``: the floor under every check."""
    if isinstance(key, rsa.RSAPublicKey):
        pad = (
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            if alg is Algorithm.RSA_PSS_SHA256
            else padding.PKCS1v15()
        )
        return lambda: key.verify(value, data, pad, hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePublicKey):
        return lambda: key.verify(value, data, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, ed25519.Ed25519PublicKey):
        return lambda: key.verify(value, data)
    raise TypeError(f"no raw verifier for {type(key).__name__}")


def full_check(pool: Sequence[bytes]) -> Callable[[], None]:
    """The full-check ceiling over ``pool`` (one envelope per call, cycling): Avro decode + model
    validation + payload SHA-256 + canonical bytes + both signatures verified with keys already
    loaded — no chains, directory, routing or policy."""
    first = decode(pool[0], Envelope)
    keys = [x509.load_der_x509_certificate(s.chain[0]).public_key() for s in first.signatures]
    alg = Algorithm(first.signatures[0].algorithm)
    index = [0]

    def run() -> None:
        raw = pool[index[0] % len(pool)]
        index[0] += 1
        env = decode(raw, Envelope)
        hashlib.sha256(env.payload.data).digest()
        data = envelope_signing_input(env)
        for key, sig in zip(keys, env.signatures, strict=True):
            raw_verifier(alg, key, sig.value, data)()

    return run


def rss_mb(pid: int | None = None) -> float:
    """Resident set size (VmRSS) of ``pid`` (this process by default) in MB; 0 if it is gone."""
    try:
        with open(f"/proc/{pid or 'self'}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def machine() -> dict[str, Any]:
    """Where the run happened: the figures mean little without it."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "openssl": backend.openssl_version_text(),
        "cryptography": cryptography.__version__,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def cpu_ticks() -> list[int]:
    """The machine's CPU time counters, all cores (/proc/stat: user, nice, system, idle, iowait,
    irq, softirq, steal); empty where there are none."""
    try:
        with open("/proc/stat") as f:
            return [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return []


def steal_share(before: list[int], after: list[int]) -> float | None:
    """The share of CPU time between two :func:`cpu_ticks` readings that the hypervisor gave to
    other guests (steal): on a shared host, the noise no ratio in the same run fully cancels."""
    if len(before) < 8 or len(after) < 8:
        return None
    spent = [a - b for a, b in zip(after, before, strict=True)]
    total = sum(spent)
    return round(spent[7] / total, 3) if total > 0 else None
