"""Tracing as the rest of `signals` sees it, and what it is while `otel.endpoint` is empty.

`Tracing` is the off state: it wraps no app, gives the journal no hook, opens no span and sends
on the records' own `traceparent` unchanged, so with tracing off no OpenTelemetry object is made
at all (no provider, no span per request). `signals.tracing.otel.OtelTracing` is the on state,
with the same methods.

    request ─> [server span] ─> record.traceparent ─> journal commit ─> store batch
                                      │                (links)          (links)
                                      ├──────────────> router forward  (child; per batch: first)
                                      └── episode ───> webhook delivery (child of the record that
                                                        made the episode reach its severity)
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from starlette.types import ASGIApp, Scope

from signals.events import Record
from signals.journal.writer import OnGroup
from signals.tracing.traceparent import TraceParent, new_trace, request_trace

STATE_KEY = "trace"  # scope["state"][STATE_KEY]: the server span's context, while tracing is on


def trace_of(scope: Scope) -> TraceParent:
    """The trace a request's records join: its server span's (tracing on), else the caller's
    `traceparent`, else a new trace."""
    state = scope.get("state")
    if state:
        trace = state.get(STATE_KEY)
        if trace is not None:
            return trace  # type: ignore[no-any-return]  # set by ServerSpans, a TraceParent
    return request_trace(scope["headers"])


class Call:
    """One outgoing request's trace context: the headers to send with it, then its outcome."""

    __slots__ = ("headers",)

    def __init__(self, traceparent: str | None) -> None:
        # A call that no request caused (a webhook for an episode closed by time alone) starts
        # a trace of its own: every outgoing request carries one.
        self.headers: dict[str, str] = {"traceparent": traceparent or new_trace().header}

    def finish(self, status_code: int | None, error: str | None) -> None:
        """Record how the request ended (tracing off: nothing to record)."""


class Tracing:
    """Tracing off: every hook is a no-op that allocates nothing per request."""

    enabled = False

    def wrap(self, app: ASGIApp, port_name: str) -> ASGIApp:
        """`app` with a server span around each request; off: `app` itself."""
        return app

    @property
    def journal_hook(self) -> OnGroup | None:
        """What the journal calls after each group (None: the journal times nothing)."""
        return None

    def store_batch(self, records: Sequence[Record]) -> AbstractContextManager[None]:
        """Around one store transaction of the consumer."""
        return nullcontext()

    def call(
        self,
        name: str,
        traceparent: str | None,
        links: Sequence[str | None] = (),
        attributes: dict[str, Any] | None = None,
    ) -> AbstractContextManager[Call]:
        """Around one outgoing request (router forward, webhook attempt) in the trace of
        `traceparent`; off: the request carries `traceparent` itself."""
        return nullcontext(Call(traceparent))

    async def aclose(self) -> None:
        """Export what is buffered and stop (off: nothing to do)."""
