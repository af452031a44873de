"""The ingest app: `POST /v1/log` (and `/log`), `/v1/log/batch`, history, the dashboard."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from signals.accept.intake import Intake
from signals.ingest.history import SignalHistory
from signals.metrics import Metrics
from signals.openapi import ingest_openapi
from signals.probes import Probes
from signals.settings import IngestSettings
from signals.tracing.base import Tracing
from signals.webapp import make_app


def build_ingest_app(
    *,
    intake: Intake,
    history: SignalHistory,
    probes: Probes,
    metrics: Metrics,
    web_dir: Path,
    limits: IngestSettings | None = None,
    cors_origins: Sequence[str] = (),
    guards: Sequence[Middleware] = (),
    tracing: Tracing | None = None,
) -> Starlette:
    index = web_dir / "index.html"

    async def dashboard(request: Request) -> Response:
        return FileResponse(index, media_type="text/html; charset=utf-8")

    routes = [
        Route("/v1/log", intake.log_one, methods=["POST"]),
        Route("/log", intake.log_one, methods=["POST"]),
        Route("/v1/log/batch", intake.log_batch, methods=["POST"]),
        Route("/v1/signals", history.signals, methods=["GET"]),
        Route("/v1/signals/export", history.export, methods=["GET"]),
        Route("/v1/stats", history.stats, methods=["GET"]),
        Route("/", dashboard, methods=["GET"]),
        Mount("/static", StaticFiles(directory=web_dir, check_dir=False), name="static"),
    ]
    return make_app(
        port_name="ingest",
        routes=routes,
        probes=probes,
        metrics=metrics,
        openapi=lambda: ingest_openapi(limits),
        cors_origins=cors_origins,
        guards=guards,
        tracing=tracing,
    )
