"""One data directory served by `signals serve` again and again, each time on fresh ports.

A port kept across a restart can meanwhile become the local port of some client's connection
(ports from `free_port()` are in the kernel's ephemeral range), and binding it again would then
fail; so every start is a new `ServiceProcess` on new ports, sharing the data dir and settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.service import ServiceProcess


class Restartable:
    def __init__(self, workdir: Path, sections: dict[str, Any] | None = None) -> None:
        self.workdir = workdir
        self.sections = {"data_dir": str(workdir / "data"), **(sections or {})}
        self.data_dir = Path(self.sections["data_dir"])
        self.config = workdir / "settings.toml"
        self.runs: list[ServiceProcess] = []

    @property
    def run(self) -> ServiceProcess:
        """The latest start."""
        return self.runs[-1]

    def start(self) -> ServiceProcess:
        """Start (blocking until ready); `self.config` names this start's settings file."""
        service = ServiceProcess(self.workdir, self.sections)
        self.runs.append(service)
        return service.start()

    def logs(self) -> str:
        """Every start's log, in order."""
        paths = dict.fromkeys(service.log_path for service in self.runs)
        return "".join(path.read_text(errors="replace") for path in paths if path.exists())

    def __enter__(self) -> Restartable:
        return self

    def __exit__(self, *exc: object) -> None:
        """Kill whatever still runs (a test that failed half way)."""
        for service in self.runs:
            service.__exit__()
