"""The shared app shell: an unexpected error is a 500 envelope with no traceback, still traced."""

from __future__ import annotations

import httpx
import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

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
