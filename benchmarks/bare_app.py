"""The ceiling: Starlette + uvicorn that only reads and decodes the body, then answers 202.

`POST /v1/log` decodes one JSON object, `POST /v1/log/batch` a JSON array; both answer a small
JSON body, like the real service, with no validation, queue or store behind them. It runs
uvicorn with the service's options (httptools, uvloop, no access log, no server header), so the
distance between this app and `signals serve` is what the pipeline costs, not the stack.

With `--journal PATH` it also makes each body durable before answering, the way any service that
acknowledges after fsync must (group commit): every body is one line appended to PATH, and one
writer task takes all the lines waiting, writes them with one write() and fsyncs them once in a
thread, then answers their requests. That is the reference for `signals serve` with
`journal.fsync = "always"`: same disk, same fsync, nothing else.

    .venv/bin/python benchmarks/bare_app.py [--host 127.0.0.1] [--port 8100] [--journal PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


class GroupCommit:
    """One writer: every line waiting goes out in one write() and one fsync(), in a thread."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._pending: list[tuple[bytes, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()

    async def append(self, line: bytes) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((line.replace(b"\n", b" ") + b"\n", done))
        self._wake.set()
        await done

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        os.fsync(self._fd)

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            group, self._pending = self._pending, []
            if group:
                await asyncio.to_thread(self._write, b"".join(line for line, _ in group))
                for _, done in group:
                    if not done.done():
                        done.set_result(None)

    def close(self) -> None:
        os.close(self._fd)


def _accepted(content: Any) -> Response:
    return Response(_encoder.encode(content), status_code=202, media_type="application/json")


def build_app(journal: str | None = None) -> Starlette:
    commit: GroupCommit | None = None

    async def durable(body: bytes) -> None:
        if commit is not None:
            await commit.append(body)

    async def log_one(request: Request) -> Response:
        body = await request.body()
        event = _decoder.decode(body)
        await durable(body)
        return _accepted({"event_id": str(event.get("user_id", "")), "duplicate": False})

    async def log_batch(request: Request) -> Response:
        body = await request.body()
        events = _decoder.decode(body)
        await durable(body)
        return _accepted({"accepted": len(events), "duplicates": 0, "rejected": []})

    async def ready(request: Request) -> Response:
        return Response(b'{"status":"ready"}', media_type="application/json")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal commit
        if journal is not None:
            commit = GroupCommit(journal)
            writer = asyncio.create_task(commit.run())
        yield
        if commit is not None:
            writer.cancel()
            commit.close()

    return Starlette(
        routes=[
            Route("/v1/log", log_one, methods=["POST"]),
            Route("/v1/log/batch", log_batch, methods=["POST"]),
            Route("/ready", ready, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--journal", default=None, help="fsync each body here before answering")
    args = parser.parse_args()
    uvicorn.run(
        build_app(args.journal),
        host=args.host,
        port=args.port,
        http="httptools",
        loop="uvloop",
        lifespan="on",
        access_log=False,
        server_header=False,
        log_level="warning",
        backlog=4096,
    )


if __name__ == "__main__":
    main()
