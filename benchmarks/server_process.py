"""A server under test: a subprocess pinned to one CPU, with its CPU time, memory and readiness.

CPU time is utime + stime from `/proc/<pid>/stat` (every thread of the process, so aiosqlite's
worker thread counts too), RSS is `VmRSS` from `/proc/<pid>/status`. `stop()` sends SIGTERM and
returns the exit status and how long the graceful shutdown took.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get_json(url: str, timeout: float = 2.0) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


class ServerProcess:
    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        base_url: str,
        cpu: int,
        log_path: Path,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            ["taskset", "-c", str(cpu), *command],
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        # taskset execs the command, so this pid is the server's own.
        self.pid = self.process.pid

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # After the command name: state is field 3, utime 14 and stime 15 (1-based).
        return (int(fields[11]) + int(fields[12])) / _TICKS

    def rss_mib(self, field: str = "VmRSS") -> float:
        """Resident memory in MiB: all of it (`VmRSS`), or `RssAnon` (the heap: what the
        process allocated) or `RssFile` (file pages mapped, such as SQLite's mmap)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def ready(self) -> dict[str, Any] | None:
        try:
            status, body = get_json(self.base_url + "/ready")
        except (OSError, ValueError):
            return None
        return body if status == 200 and isinstance(body, dict) else None

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            if self.ready() is not None:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready within {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 30.0) -> tuple[int, float]:
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._log.close()
        return code, time.monotonic() - started
