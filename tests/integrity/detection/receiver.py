"""A webhook receiver on a port that can be chosen, so it can be down and come back at one URL.

`tests/alerts/webhook_receiver.py` always takes a fresh port; the outbox-restart test needs the
receiver absent at first and then listening at the URL the service was configured with.
Every request is recorded (headers, raw body); each webhook-id's first `fail_first` requests
are answered `fail_status`, later ones 204.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tests.support.service import free_port


@dataclass(frozen=True)
class Hook:
    headers: dict[str, str]
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


@dataclass
class Receiver:
    port: int = field(default_factory=free_port)
    fail_first: int = 0
    fail_status: int = 500
    received: list[Hook] = field(default_factory=list)
    _counts: Counter[str] = field(default_factory=Counter)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def _hook(self, request: Request) -> Response:
        hook = Hook(dict(request.headers), await request.body())
        self.received.append(hook)
        self._counts[hook.headers.get("webhook-id", "")] += 1
        if self._counts[hook.headers.get("webhook-id", "")] <= self.fail_first:
            return Response(status_code=self.fail_status)
        return Response(status_code=204)

    async def __aenter__(self) -> Self:
        app = Starlette(routes=[Route("/hooks", self._hook, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None,
                                access_log=False, lifespan="off", ws="none")  # fmt: skip
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        async with asyncio.timeout(10):
            while not self._server.started:
                if self._task.done():
                    await self._task  # surfaces why it could not start
                await asyncio.sleep(0.01)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
