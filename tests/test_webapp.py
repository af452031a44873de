"""The shared app shell: an unexpected error is a 500 envelope with no traceback, still traced."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import httpx
import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from signals.logs import add_request_id
from signals.metrics import Metrics
from signals.probes import Probes
from signals.webapp import make_app


async def explode(request: Request) -> Response:
    raise RuntimeError("secret internals")


async def test_unexpected_error_is_an_enveloped_500() -> None:
    metrics = Metrics()
    app = make_app(
        port_name="ingest",
        routes=[Route("/boom", explode)],
        probes=Probes(metrics=metrics, checks={}),
        metrics=metrics,
        openapi=dict,
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    with structlog.testing.capture_logs() as logs:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/boom", headers={"X-Request-ID": "trace-me"})
    assert response.status_code == 500
    body = response.json()
    assert body == {
        "error": {
            "code": "internal",
            "message": "internal error; see the server log",
            "details": [],
        },
        "request_id": "trace-me",
    }
    assert response.headers["x-request-id"] == "trace-me"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "secret internals" not in response.text and "Traceback" not in response.text
    (entry,) = [e for e in logs if e["event"] == "unhandled error"]
    assert entry["log_level"] == "error" and entry["exc_info"][0] is RuntimeError
    assert entry["path"] == "/boom"


async def test_log_lines_written_in_a_request_carry_its_request_id() -> None:
    lines: list[MutableMapping[str, Any]] = []

    async def logs_a_line(request: Request) -> Response:
        lines.append(add_request_id(None, "info", {"event": "inside"}))
        return Response(status_code=204)

    metrics = Metrics()
    app = make_app(
        port_name="ingest",
        routes=[Route("/log-a-line", logs_a_line)],
        probes=Probes(metrics=metrics, checks={}),
        metrics=metrics,
        openapi=dict,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        await client.get("/log-a-line", headers={"X-Request-ID": "mine"})
        await client.get("/log-a-line")
    assert lines[0] == {"event": "inside", "request_id": "mine"}
    assert lines[1]["request_id"] not in {"mine", None}
    # Outside a request nothing is added.
    assert add_request_id(None, "info", {"event": "outside"}) == {"event": "outside"}
