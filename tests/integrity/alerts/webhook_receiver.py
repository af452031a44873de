"""A real HTTP webhook receiver for the alert tests: uvicorn on a free port, in the test's loop.

It records every request (headers and raw body) and can be told to answer each webhook-id's
first `fail_first` requests with `fail_status`, or to hold the first `hang_first` requests of
each id (of each id in `hang_ids`, when given) open until the receiver stops.
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    others_hanging: int  # requests held open by the receiver when this one arrived

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


def free_port() -> int:
    """A port nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class WebhookReceiver:
    fail_first: int = 0
    fail_status: int = 500
    hang_first: int = 0
    hang_ids: frozenset[str] | None = None
    received: list[Received] = field(default_factory=list)
    hanging: int = 0
    _counts: Counter[str] = field(default_factory=Counter)
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def ids(self) -> list[str]:
        return [request.webhook_id for request in self.received]

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        self.received.append(Received(headers, body, self.hanging))
        msg_id = headers.get("webhook-id", "")
        self._counts[msg_id] += 1
        seen = self._counts[msg_id]
        held = self.hang_first if self.hang_ids is None or msg_id in self.hang_ids else 0
        if seen <= held:
            self.hanging += 1
            try:
                await self._release.wait()
            finally:
                self.hanging -= 1
        elif seen <= held + self.fail_first:
            return Response(status_code=self.fail_status)
        return Response(status_code=204)

    async def __aenter__(self) -> Self:
        app = Starlette(routes=[Route("/hooks", self._hook, methods=["POST"])])
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_config=None,
            access_log=False,
            lifespan="off",
            ws="none",
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        async with asyncio.timeout(10):
            while not self._server.started:
                if self._task.done():
                    await self._task  # surfaces why it could not start
                await asyncio.sleep(0.01)
        self.port = int(self._server.servers[0].sockets[0].getsockname()[1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release.set()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
