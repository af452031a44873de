"""Tracing on: OpenTelemetry spans, exported over OTLP/HTTP to `otel.endpoint`.

The spans (docs/api.md):
- `<METHOD> <route>` (server): each request, the child of the caller's `traceparent` when it
  sent a valid one; its context is what the request's records keep (`signals.tracing.middleware`);
- `journal commit` (internal): one group commit, linked to the requests whose records it made
  durable: one fsync serves many traces, so it is a root of its own with a link to each;
- `store batch` (consumer): one store transaction of the consumer, linked to its records' spans
  across the queue;
- `router forward` and `webhook delivery` (client): one per attempt, the child of the record's
  span (a forwarded batch: its first record's, linked to the others), and the `traceparent` the
  request carries is the attempt's own.

Sampling is parent-based: a caller's decision is followed, and a trace that starts here (a request
without a `traceparent`, a journal commit, a store batch) is kept with `otel.sample_ratio`.

The provider is this service's own, not OpenTelemetry's global one: a process may hold several
services (the tests do), and nothing here relies on the global.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import structlog
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from starlette.types import ASGIApp

from signals import __version__
from signals.events import Record
from signals.journal.writer import OnGroup
from signals.settings import OtelSettings
from signals.tracing.base import Call, Tracing
from signals.tracing.contexts import ROOT, fail, links_to, parent_context, traceparent_of
from signals.tracing.middleware import ServerSpans
from signals.tracing.traceparent import parse
from signals.urls import masked_url

log = structlog.get_logger(__name__)

TRACES_PATH = "/v1/traces"
SHUTDOWN_SECONDS = 5.0


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for `otel.endpoint`: a collector's base URL gets `/v1/traces`."""
    base = endpoint.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


class _SpanCall(Call):
    __slots__ = ("_span",)

    def __init__(self, span: Span) -> None:
        super().__init__(traceparent_of(span).header)
        self._span = span

    def finish(self, status_code: int | None, error: str | None) -> None:
        if status_code is not None:
            self._span.set_attribute("http.response.status_code", status_code)
        if error:
            self._span.set_status(Status(StatusCode.ERROR, error))


class OtelTracing(Tracing):
    """The provider, its batch processor and OTLP/HTTP exporter; `aclose` exports the rest."""

    enabled = True

    def __init__(self, settings: OtelSettings, *, exporter: SpanExporter | None = None) -> None:
        """`exporter` replaces the OTLP/HTTP one (a test's); the OTLP exporter also reads the
        standard `OTEL_EXPORTER_OTLP_TRACES_*` variables (headers, certificates, timeout)."""
        self._endpoint = traces_url(settings.endpoint) if settings.endpoint else ""
        resource = Resource.create(
            {SERVICE_NAME: settings.service_name, SERVICE_VERSION: __version__}
        )
        self._provider = TracerProvider(
            resource=resource,
            sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)),
            shutdown_on_exit=False,
        )
        self._provider.add_span_processor(
            BatchSpanProcessor(exporter or OTLPSpanExporter(endpoint=self._endpoint))
        )
        self.tracer: Tracer = self._provider.get_tracer("signals", __version__)

    def wrap(self, app: ASGIApp, port_name: str) -> ASGIApp:
        return ServerSpans(app, self.tracer, port_name)

    @property
    def journal_hook(self) -> OnGroup:
        return self._journal_commit

    def _journal_commit(
        self, payloads: Sequence[object], started: int, ended: int, error: BaseException | None
    ) -> None:
        records = [r for payload in payloads if isinstance(payload, list) for r in payload]
        span = self.tracer.start_span(
            "journal commit",
            context=ROOT,
            kind=SpanKind.INTERNAL,
            links=links_to(r.traceparent for r in records if isinstance(r, Record)),
            start_time=started,
            attributes={"signals.journal.appends": len(payloads), "signals.records": len(records)},
        )
        if error is not None:
            fail(span, error)
        span.end(end_time=ended)

    @contextlib.contextmanager
    def store_batch(self, records: Sequence[Record]) -> Iterator[None]:
        span = self.tracer.start_span(
            "store batch",
            context=ROOT,
            kind=SpanKind.CONSUMER,
            links=links_to(record.traceparent for record in records),
            attributes={"signals.records": len(records)},
        )
        try:
            yield
        except BaseException as exc:
            fail(span, exc)
            raise
        finally:
            span.end()

    @contextlib.contextmanager
    def call(
        self,
        name: str,
        traceparent: str | None,
        links: Sequence[str | None] = (),
        attributes: dict[str, Any] | None = None,
    ) -> Iterator[Call]:
        parent = parse(traceparent) if traceparent else None
        span = self.tracer.start_span(
            name,
            context=parent_context(parent),
            kind=SpanKind.CLIENT,
            links=links_to(links),
            attributes=attributes,
        )
        try:
            yield _SpanCall(span)
        except BaseException as exc:
            fail(span, exc)
            raise
        finally:
            span.end()

    async def aclose(self) -> None:
        """Export the spans still buffered, for at most `SHUTDOWN_SECONDS`.

        The SDK's shutdown blocks (it joins its export thread), so it runs in a daemon thread of
        its own: a collector that does not answer cannot hold the exit past that time.
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def finished() -> None:
            if not done.done():
                done.set_result(None)

        def shutdown() -> None:
            try:
                self._provider.shutdown()
            finally:
                with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
                    loop.call_soon_threadsafe(finished)

        threading.Thread(target=shutdown, name="otel-shutdown", daemon=True).start()
        try:
            async with asyncio.timeout(SHUTDOWN_SECONDS):
                await done
        except TimeoutError:
            log.warning(
                "spans not all exported at shutdown",
                endpoint=masked_url(self._endpoint),
                waited_seconds=SHUTDOWN_SECONDS,
            )


def open_tracing(settings: OtelSettings) -> Tracing:
    """Tracing on when `otel.endpoint` is set; else the off state, which makes nothing."""
    if not settings.endpoint:
        return Tracing()
    tracing = OtelTracing(settings)
    log.info(
        "tracing on",
        endpoint=masked_url(traces_url(settings.endpoint)),
        service_name=settings.service_name,
        sample_ratio=settings.sample_ratio,
    )
    return tracing
