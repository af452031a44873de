"""The integrity app: `POST /v1/events`, `/v1/validate`, anomaly and alert history."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.convertors import PathConvertor, register_url_convertor
from starlette.middleware import Middleware
from starlette.routing import Route

from signals.accept.intake import Intake
from signals.integrity.history import AnomalyHistory
from signals.metrics import Metrics
from signals.openapi import integrity_openapi
from signals.probes import Probes
from signals.settings import IngestSettings
from signals.tracing.base import Tracing
from signals.webapp import make_app


class _AnyText(PathConvertor):
    """The rest of the path, whatever it holds: Starlette's `path` stops at a line break, so a
    user id with one would be a 404 rather than the 422 that names what is wrong with it."""

    regex = "(?s:.*)"


register_url_convertor("text", _AnyText())


def build_integrity_app(
    *,
    intake: Intake,
    history: AnomalyHistory,
    probes: Probes,
    metrics: Metrics,
    limits: IngestSettings | None = None,
    cors_origins: Sequence[str] = (),
    guards: Sequence[Middleware] = (),
    tracing: Tracing | None = None,
) -> Starlette:
    routes = [
        Route("/v1/events", intake.events, methods=["POST"]),
        Route("/v1/validate", intake.validate, methods=["POST"]),
        Route("/v1/anomalies", history.anomalies, methods=["GET"]),
        Route("/v1/anomalies/{user_id:text}", history.anomalies_of_user, methods=["GET"]),
        Route("/v1/alerts", history.alerts, methods=["GET"]),
    ]
    return make_app(
        port_name="integrity",
        routes=routes,
        probes=probes,
        metrics=metrics,
        openapi=lambda: integrity_openapi(limits),
        cors_origins=cors_origins,
        guards=guards,
        tracing=tracing,
    )
