"""A stand-in router for the forwarding tests: a raw asyncio HTTP/1.1 server on a fixed free port.

The port is chosen up front, so the service can be configured with `url` before the receiver
listens, and the receiver can be taken down and brought back on the same port. It is chosen
below the kernel's ephemeral range, so while the receiver is down no client connection (and no
`free_port()`) can be given it. While up it is in one of three modes:

- "ok": records the request (headers and body) and answers 200;
- "fail": counts the attempt and answers 500;
- "hang": counts the attempt, reads the request and never answers (the connection stays open
  until the receiver goes down).

Down means nothing listens: the service's connections are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import msgspec

Mode = Literal["ok", "fail", "hang"]
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
_FAIL = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n"


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: bytes

    def records(self) -> list[dict[str, object]]:
        """The records it carried: one object, or the items of an array."""
        decoded = msgspec.json.decode(self.body)
        return decoded if isinstance(decoded, list) else [decoded]


def steady_port() -> int:
    """A free port below the ephemeral range (Linux's default range starts at 32768)."""
    try:
        first_ephemeral = int(EPHEMERAL_RANGE.read_text().split()[0])
    except OSError:
        first_ephemeral = 32768
    for _ in range(100):
        port = random.randrange(max(1024, first_ephemeral - 10_000), first_ephemeral)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port below the ephemeral range")


class RouterReceiver:
    def __init__(self, mode: Mode = "ok") -> None:
        self.port = steady_port()
        self.mode: Mode = mode
        self.delivered: list[Delivery] = []
        self.attempts = 0  # every request that arrived, whatever the mode answered
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._closing = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ingest"

    def event_ids(self, since: int = 0) -> list[str]:
        """The event_id of every record delivered (from delivery `since` on), in arrival order,
        repeats included."""
        deliveries = self.delivered[since:]
        return [str(record["event_id"]) for item in deliveries for record in item.records()]

    async def up(self, mode: Mode | None = None) -> None:
        if mode is not None:
            self.mode = mode
        if self._server is None:
            self._closing = asyncio.Event()
            self._server = await asyncio.start_server(
                self._serve, "127.0.0.1", self.port, reuse_address=True
            )

    async def down(self) -> None:
        """Stop listening and drop every open connection (hanging ones too)."""
        if self._server is None:
            return
        self._server.close()
        self._closing.set()
        for writer in list(self._connections):
            writer.close()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> RouterReceiver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.down()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._connections.add(writer)
        try:
            while await self._one_request(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._connections.discard(writer)
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the client closed the connection."""
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.attempts += 1
        if self.mode == "hang":
            await self._closing.wait()
            return False
        if self.mode == "fail":
            writer.write(_FAIL)
        else:
            self.delivered.append(Delivery(headers, body))
            writer.write(_OK)
        await writer.drain()
        return True
