"""The real Apache Kafka broker, resolved by Maven from Maven Central into infra/kafka/.cache/lib."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

from schemas.errors import OperationError
from schemas.reasons import Reason

__all__ = ["KAFKA_DIR", "RuntimeMissing", "classpath", "fetch", "lib_dir"]

log = logging.getLogger(__name__)

KAFKA_DIR = Path(__file__).resolve().parent / "kafka"


class RuntimeMissing(OperationError, RuntimeError):
    """Java or Maven is missing, or Maven could not resolve the broker."""

    REASON = Reason.RUNTIME_MISSING


def lib_dir() -> Path:
    return KAFKA_DIR / ".cache" / "lib"


def _has_jars() -> bool:
    d = lib_dir()
    return d.is_dir() and any(d.glob("kafka_2.13-*.jar"))


def fetch(*, force: bool = False) -> Path:
    """Resolve the broker jars once; later calls find them in the cache and resolve nothing."""
    if _has_jars() and not force:
        return lib_dir()
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeMissing("Maven (mvn) is needed to fetch the Kafka broker from Maven Central")
    log.info("resolving Apache Kafka from Maven Central into %s", lib_dir())
    proc = subprocess.run(
        [mvn, "-q", "-B", "-f", str(KAFKA_DIR / "pom.xml"), "dependency:copy-dependencies"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or not _has_jars():
        raise RuntimeMissing(f"mvn failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return lib_dir()


def classpath() -> str:
    return str(fetch() / "*")


def java() -> str:
    exe = shutil.which("java")
    if exe is None:
        raise RuntimeMissing("Java 17+ is needed to run the Kafka broker")
    return exe
