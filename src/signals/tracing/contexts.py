"""OpenTelemetry span contexts to and from the W3C strings records and requests carry."""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry.context import Context
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

from signals.tracing.traceparent import TraceParent, parse, tracestate_pairs

MAX_LINKS = 128  # the SDK's default span limit; more would be dropped there anyway
ROOT = Context()  # an empty context: a span started in it is a root, whatever is current


def span_context(trace: TraceParent, tracestate: str = "") -> SpanContext:
    # Checked here rather than by TraceState.from_header, which logs every bad member it meets:
    # a caller could fill the log one request at a time.
    state = TraceState(tracestate_pairs(tracestate)) if tracestate else None
    return SpanContext(
        trace_id=int(trace.trace_id, 16),
        span_id=int(trace.span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(int(trace.flags, 16)),
        trace_state=state,
    )


def parent_context(trace: TraceParent | None, tracestate: str = "") -> Context:
    """A context whose current span is the remote `trace` (an empty one without it)."""
    if trace is None:
        return ROOT
    return set_span_in_context(NonRecordingSpan(span_context(trace, tracestate)), ROOT)


def traceparent_of(span: Span) -> TraceParent:
    context = span.get_span_context()
    return TraceParent(
        f"{context.trace_id:032x}", f"{context.span_id:016x}", f"{context.trace_flags:02x}"
    )


def links_to(traceparents: Iterable[str | None]) -> list[Link]:
    """One link per distinct valid `traceparent` (a batch's records share their request's)."""
    seen: dict[str, None] = {}
    for header in traceparents:
        if header and header not in seen:
            seen[header] = None
            if len(seen) == MAX_LINKS:
                break
    links = []
    for header in seen:
        trace = parse(header)
        if trace is not None:
            links.append(Link(span_context(trace)))
    return links


def fail(span: Span, exc: BaseException) -> None:
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
