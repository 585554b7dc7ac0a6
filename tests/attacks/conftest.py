"""One PKI and sealed directory per session for the attack suite (tests/attacks/lab.py)."""

from __future__ import annotations

import pytest

from tests.attacks.lab import Bus, Lab, build_lab


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    return build_lab(tmp_path_factory.mktemp("attacks") / "pki")


@pytest.fixture
def bus(lab: Lab) -> Bus:
    return lab.bus()
