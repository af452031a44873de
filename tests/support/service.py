"""`signals serve` as a real subprocess on free ports, for runtime, crash and browser tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

READY_TIMEOUT_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return repr(value)


def write_settings(path: Path, sections: dict[str, Any]) -> Path:
    """Top-level keys first, then one [section] per dict value (arrays of tables not needed)."""
    lines = [f"{key} = {toml_value(value)}" for key, value in sections.items()
             if not isinstance(value, dict)]  # fmt: skip
    for name, table in sections.items():
        if isinstance(table, dict):
            lines.append(f"\n[{name}]")
            lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


class ServiceProcess:
    """One `signals serve`; its stdout (JSON log lines) goes to `log_path`."""

    def __init__(
        self,
        workdir: Path,
        sections: dict[str, Any] | None = None,
        command: Sequence[str] = (sys.executable, "-m", "signals"),
    ) -> None:
        self.workdir = workdir
        self.command = list(command)
        self.ingest_port = free_port()
        self.integrity_port = free_port()
        sections = dict(sections or {})
        sections.setdefault("data_dir", str(workdir / "data"))
        sections["ingest"] = {"port": self.ingest_port, **sections.get("ingest", {})}
        sections["integrity"] = {"port": self.integrity_port, **sections.get("integrity", {})}
        sections["logging"] = {"format": "json", **sections.get("logging", {})}
        self.data_dir = Path(sections["data_dir"])
        self.config = write_settings(workdir / "settings.toml", sections)
        self.log_path = workdir / f"serve-{self.ingest_port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def ingest(self) -> str:
        return f"http://127.0.0.1:{self.ingest_port}"

    @property
    def integrity(self) -> str:
        return f"http://127.0.0.1:{self.integrity_port}"

    def start(self, env: dict[str, str] | None = None) -> ServiceProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.command, "serve", "--config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env={**os.environ, **(env or {})},
            )
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"signals exited with {self.process.returncode}:\n{self.logs()}")
            try:
                if (
                    httpx.get(f"{self.ingest}/ready", timeout=1).status_code == 200
                    and httpx.get(f"{self.integrity}/ready", timeout=1).status_code == 200
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"signals not ready within {timeout} s:\n{self.logs()}")

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.process.wait(timeout)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()
