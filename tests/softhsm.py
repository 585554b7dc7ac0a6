"""SoftHSM2, the software PKCS#11 token standing in for an official's USB token: find its module,
make a fresh token in a folder of its own with key pairs generated on it.

The keys are generated in a child process: a process loads a PKCS#11 module once and reads
SOFTHSM2_CONF then, so the test process itself never loads it (other tests' tokens stay theirs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["make_token", "softhsm_module"]

_MODULES = [
    os.environ.get("SOFTHSM2_MODULE", ""),
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
]


def softhsm_module() -> str:
    """The module's path; fails (not skips) when SoftHSM2 is missing: the test command installs it."""
    found = [m for m in _MODULES if m and Path(m).exists()]
    assert found, "SoftHSM2 is not installed (apt-get install softhsm2)"
    assert shutil.which("softhsm2-util"), "softhsm2-util is not on PATH"
    return found[0]


def make_token(
    root: Path, label: str, pin: str, *, rsa: tuple[str, ...] = (), ec: tuple[str, ...] = ()
) -> dict[str, str]:
    """A token ``label`` under ``root`` with RSA-2048 and P-256 key pairs of the given labels;
    returns the environment a process needs to see it (SOFTHSM2_CONF, DOCBUS_PKCS11_MODULE)."""
    (root / "tokens").mkdir(parents=True)
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    env = {"SOFTHSM2_CONF": str(conf), "DOCBUS_PKCS11_MODULE": softhsm_module()}
    init = ["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", "65432100"]
    subprocess.run(init, check=True, capture_output=True, env={**os.environ, **env})
    keygen = [sys.executable, "-m", "tests.softhsm", label, pin, ",".join(rsa), ",".join(ec)]
    subprocess.run(keygen, check=True, capture_output=True, env={**os.environ, **env},
                   cwd=Path(__file__).resolve().parents[1])  # fmt: skip
    return env


def _keygen(label: str, pin: str, rsa: str, ec: str) -> None:
    import pkcs11
    from pkcs11 import Attribute, KeyType
    from pkcs11.util.ec import encode_named_curve_parameters

    token = pkcs11.lib(os.environ["DOCBUS_PKCS11_MODULE"]).get_token(token_label=label)
    with token.open(user_pin=pin, rw=True) as session:
        for name in filter(None, rsa.split(",")):
            session.generate_keypair(KeyType.RSA, 2048, store=True, label=name)
        for name in filter(None, ec.split(",")):
            curve = {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}
            params = session.create_domain_parameters(KeyType.EC, curve, local=True)
            params.generate_keypair(store=True, label=name)


if __name__ == "__main__":
    _keygen(*sys.argv[1:5])
