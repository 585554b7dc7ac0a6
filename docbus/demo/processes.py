"""The processors the demo runs: `docbus bus run` and `docbus audit writer`, as subprocesses.

Their pids go to ``<state>/pids.json`` so `docbus demo --stop` can end a run left with
``--keep-running``; their output to ``<state>/logs/<name>.log``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

__all__ = ["Processors", "stop_recorded"]

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
COMMANDS = {"bus": ["bus", "run"], "audit-writer": ["audit", "writer"]}


class Processors:
    def __init__(self, env: Mapping[str, str], state: Path) -> None:
        self.env = {**os.environ, **env}
        self.state = state
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        logs = self.state / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for name, args in COMMANDS.items():
            with (logs / f"{name}.log").open("ab") as out:
                self.procs[name] = subprocess.Popen(
                    [sys.executable, "-m", "docbus.cli", *args], cwd=REPO, env=self.env,
                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
        pids = {name: p.pid for name, p in self.procs.items()}
        (self.state / "pids.json").write_text(json.dumps(pids))

    def dead(self) -> list[str]:
        """Processors that exited (a missing key, a broker gone): the demo says so and stops."""
        return [name for name, p in self.procs.items() if p.poll() is not None]

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p in self.procs.items():
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop within 30 s; killed", name)
                p.kill()
                p.wait(10)
        (self.state / "pids.json").unlink(missing_ok=True)


def stop_recorded(state: Path) -> list[str]:
    """Stop the processors a kept-running demo recorded in ``state``; returns the names stopped."""
    path = state / "pids.json"
    if not path.exists():
        return []
    stopped = []
    for name, pid in json.loads(path.read_text()).items():
        if _is_docbus(pid):
            os.kill(pid, signal.SIGTERM)
            stopped.append((name, pid))
    deadline = time.monotonic() + 30
    for _name, pid in stopped:
        while _is_docbus(pid) and time.monotonic() < deadline:
            time.sleep(0.2)  # another process's exit cannot be awaited; poll with a deadline
        if _is_docbus(pid):
            os.kill(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    return [name for name, _ in stopped]


def _is_docbus(pid: int) -> bool:
    """Alive, and still a docbus process (a recycled pid is never signalled)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"docbus.cli" in cmdline  # a zombie's cmdline is empty
