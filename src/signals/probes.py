"""`/health`, `/ready` and `/metrics`: what both ports answer about the process itself.

`/health` says the event loop runs. `/ready` checks what accepting an event needs (the journal
is writable, the store answers) and reports what degrades service without stopping it (windows
fallen back to memory, consumer and router lag): 200 for `ready` and `degraded`, 503 `unready`.
A caller that may not see details (`sees_details`: without a read key once keys are configured)
gets each check's state alone: no paths, error texts or figures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from signals import __version__
from signals.http import JSONResponse
from signals.metrics import CONTENT_TYPE_LATEST, Metrics

CHECK_TIMEOUT_SECONDS = 2.0
Check = Callable[[], Awaitable[dict[str, Any]]]


class Probes:
    """Each check returns its details with a `status` of ok, degraded or failed."""

    def __init__(
        self,
        *,
        metrics: Metrics,
        checks: dict[str, Check],
        sees_details: Callable[[Scope], bool] = lambda scope: True,
    ) -> None:
        self._metrics = metrics
        self._checks = checks
        self._sees_details = sees_details

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "service": "signals", "version": __version__})

    async def ready(self, request: Request) -> Response:
        names = list(self._checks)
        results = await asyncio.gather(*(self._run(self._checks[name]) for name in names))
        checks = dict(zip(names, results, strict=True))
        states = {result["status"] for result in results}
        status = (
            "unready" if "failed" in states else "degraded" if "degraded" in states else "ready"
        )
        if not self._sees_details(request.scope):
            checks = {name: {"status": result["status"]} for name, result in checks.items()}
        return JSONResponse(
            {"status": status, "checks": checks}, status_code=503 if status == "unready" else 200
        )

    async def _run(self, check: Check) -> dict[str, Any]:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                return await check()
        except TimeoutError:
            return {"status": "failed", "error": f"no answer within {CHECK_TIMEOUT_SECONDS} s"}
        except Exception as exc:
            return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}

    async def metrics(self, request: Request) -> Response:
        return Response(self._metrics.render(), media_type=CONTENT_TYPE_LATEST)
