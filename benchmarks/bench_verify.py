"""Verification throughput of the trust core beside the raw ``cryptography`` floor (prints JSON).

Per algorithm: raw verify of one signature with the same key, ``verify_seal`` (one signature,
cached chain) and ``verify_document`` (official + seal, cached chains), with ratios to the raw
rate measured in the same run; the cost of an uncached 3-certificate chain validation, and of
re-validating a chain after a CRL reload (issuer signatures remembered, revocation rechecked).

    .venv/bin/python benchmarks/bench_verify.py [--seconds 0.5]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cryptography

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._ceilings import rate, raw_verifier
from consumers.trust import TrustPolicy, TrustStore
from consumers.trust.chain import validate_chain
from infra.pki import Authority, KeyType
from producers.keys import FileKeyProvider, make_signature
from schemas.algorithms import Algorithm
from schemas.signature import SignerRole

DATA = b"docbus-envelope-v1\x00" + bytes(range(256)) * 2  # a header-sized signing input

CASES = [
    ("Ed25519", KeyType.ED25519, Algorithm.ED25519),
    ("ECDSA-P256", KeyType.P256, Algorithm.ECDSA_P256_SHA256),
    ("RSA-2048-PKCS1v15", KeyType.RSA2048, Algorithm.RSA_PKCS1V15_SHA256),
    ("RSA-2048-PSS", KeyType.RSA2048, Algorithm.RSA_PSS_SHA256),
    ("RSA-3072-PSS", KeyType.RSA3072, Algorithm.RSA_PSS_SHA256),
]


def measure(seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "python": platform.python_version(),
        "cryptography": cryptography.__version__,
        "signing_input_bytes": len(DATA),
        "algorithms": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        authority = Authority.init(Path(tmp) / "pki", b"bench")
        for label, key_type, alg in CASES:
            code = f"B{len(out['algorithms']):02d}"
            seal = authority.issue_org(code, f"Bench {label}", key_type=key_type, pkcs12=False)
            official = authority.issue_official(code, "Bench Official", "Chuyên viên", key_type=key_type)
            authority.publish_crl()
            assert seal.key is not None and official.key is not None
            sigs = [
                make_signature(FileKeyProvider(official.key, official.chain, alg), SignerRole.OFFICIAL, DATA),
                make_signature(FileKeyProvider(seal.key, seal.chain, alg), SignerRole.ORGANIZATION, DATA),
            ]
            store = TrustStore([authority.root_cert], authority.crls())
            policy = TrustPolicy(store)
            now = datetime.now(UTC)
            policy.verify_document(DATA, sigs, code, now=now)  # warm the chain cache

            raw = rate(raw_verifier(alg, seal.cert.public_key(), sigs[1].value, DATA), seconds)
            seal_rate = rate(lambda: policy.verify_seal(DATA, sigs[1:], code, now), seconds)  # noqa: B023
            doc_rate = rate(lambda: policy.verify_document(DATA, sigs, code, now=now), seconds)  # noqa: B023
            cold = rate(lambda: validate_chain(sigs[1].chain, store, policy.config, now=now), seconds)  # noqa: B023
            out["algorithms"][label] = {
                "raw_verify_per_s": round(raw),
                "verify_seal_per_s": round(seal_rate),
                "verify_seal_vs_raw": round(seal_rate / raw, 3),
                "verify_document_per_s": round(doc_rate),
                # a document carries two signatures: its floor is half the raw rate
                "verify_document_vs_raw_half": round(doc_rate / (raw / 2), 3),
                "overhead_per_signature_us": round((1 / seal_rate - 1 / raw) * 1e6, 2),
                # RFC 5280 path building and validation with the CRLs, as after a CRL reload
                "uncached_chain_validation_us": round(1e6 / cold, 1),
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="length of one timed run")
    args = parser.parse_args()
    print(json.dumps(measure(args.seconds), indent=2))


if __name__ == "__main__":
    main()
