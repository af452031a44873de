"""The ceiling: Starlette + uvicorn that only reads and decodes the body, then answers 202.

`POST /v1/log` decodes one JSON object, `POST /v1/log/batch` a JSON array; both answer a small
JSON body, like the real service, with no validation, journal, queue or store behind them. It runs
uvicorn with the service's options (httptools, uvloop, no access log, no server header), so the
distance between this app and `signals serve` is what the pipeline costs, not the stack.

    .venv/bin/python benchmarks/bare_app.py [--host 127.0.0.1] [--port 8100]
"""

from __future__ import annotations

import argparse
from typing import Any

import msgspec
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def _accepted(content: Any) -> Response:
    return Response(_encoder.encode(content), status_code=202, media_type="application/json")


async def log_one(request: Request) -> Response:
    event = _decoder.decode(await request.body())
    return _accepted({"event_id": str(event.get("user_id", "")), "duplicate": False})


async def log_batch(request: Request) -> Response:
    events = _decoder.decode(await request.body())
    return _accepted({"accepted": len(events), "duplicates": 0, "rejected": []})


async def ready(request: Request) -> Response:
    return Response(b'{"status":"ready"}', media_type="application/json")


def build_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/v1/log", log_one, methods=["POST"]),
            Route("/v1/log/batch", log_batch, methods=["POST"]),
            Route("/ready", ready, methods=["GET"]),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args()
    uvicorn.run(
        build_app(),
        host=args.host,
        port=args.port,
        http="httptools",
        loop="uvloop",
        lifespan="off",
        access_log=False,
        server_header=False,
        log_level="warning",
        backlog=4096,
    )


if __name__ == "__main__":
    main()
