"""W3C Trace Context (`traceparent`) in and out, without the OpenTelemetry SDK.

This is what runs on every POST whether tracing is on or off, so it is plain string work: a
request's `traceparent` is parsed here, a record keeps the header it was accepted under, and the
router forward and the webhook send it on (docs/api.md).

Parsing follows the W3C recommendation: a malformed header is ignored (the request starts a new
trace, it is never refused); version `ff` is invalid; version `00` is exactly four fields; a
later version may add fields after the fourth, which are ignored; an all-zero trace id or parent
id is invalid; hex must be lowercase.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

TRACEPARENT = b"traceparent"
TRACESTATE = b"tracestate"
SAMPLED = "01"
NOT_SAMPLED = "00"

_HEADER = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?\Z")
# A tracestate list-member, as the W3C grammar has it: a key (or tenant@system) and a value.
_MEMBER = re.compile(
    r"([a-z][_0-9a-z*/-]{0,255}|[a-z0-9][_0-9a-z*/-]{0,240}@[a-z][_0-9a-z*/-]{0,13})"
    r"=([\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e])\Z"
)
MAX_TRACESTATE_MEMBERS = 32
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


class TraceParent(NamedTuple):
    """A position in a trace: the trace, the span a child continues from, the trace flags."""

    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16 lowercase hex digits
    flags: str  # 2 lowercase hex digits; bit 0 is "sampled"

    @property
    def header(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    @property
    def sampled(self) -> bool:
        return bool(int(self.flags, 16) & 1)


def parse(value: str) -> TraceParent | None:
    """The context a `traceparent` header value carries, or None when it is malformed."""
    match = _HEADER.match(value.strip(" \t"))
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return TraceParent(trace_id, span_id, flags)


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a `traceparent` this service wrote (`TraceParent.header`)."""
    return traceparent[3:35] if traceparent else None


def new_trace() -> TraceParent:
    """A new trace for a request that came without one, while tracing is off.

    Not sampled: nothing of it was recorded here, so a downstream service that follows its
    parent's decision records nothing either, as it would for an unsampled caller.
    """
    # Ids must be unique, not secret: the random module's generator (as OpenTelemetry's SDK
    # uses; reseeded in a forked child) costs a tenth of a getrandom call per request.
    ids = f"{random.getrandbits(192):048x}"
    if ids.startswith(_ZERO_TRACE) or ids.endswith(_ZERO_SPAN):  # invalid ids; 1 in 2**64
        return new_trace()
    return TraceParent(ids[:32], ids[32:], NOT_SAMPLED)


def from_headers(headers: Iterable[tuple[bytes, bytes]]) -> tuple[TraceParent | None, str]:
    """The `traceparent` (None when absent, repeated or malformed) and the `tracestate` (joined
    when repeated, as HTTP allows) of ASGI headers. A tracestate without a valid parent is ""."""
    parents: list[bytes] = []
    states: list[bytes] = []
    for name, value in headers:
        if name == TRACEPARENT:
            parents.append(value)
        elif name == TRACESTATE:
            states.append(value)
    if len(parents) != 1:
        return None, ""
    parent = parse(parents[0].decode("latin-1"))
    if parent is None:
        return None, ""
    return parent, b",".join(states).decode("latin-1")


def request_trace(headers: Sequence[tuple[bytes, bytes]]) -> TraceParent:
    """The trace a request's records join while tracing is off: the caller's, else a new one."""
    for name, _ in headers:
        if name == TRACEPARENT:  # the rare case: the full rules only then
            parent, _ = from_headers(headers)
            return parent or new_trace()
    return new_trace()


def tracestate_pairs(value: str) -> list[tuple[str, str]]:
    """The members of a `tracestate` value in order; none at all when any member is malformed
    or repeated, or when there are too many (the W3C rule: discard rather than guess)."""
    pairs: list[tuple[str, str]] = []
    keys: set[str] = set()
    for raw in value.split(","):
        member = raw.strip(" \t")
        if not member:
            continue
        match = _MEMBER.match(member)
        if match is None or match[1] in keys or len(keys) == MAX_TRACESTATE_MEMBERS:
            return []
        keys.add(match[1])
        pairs.append((match[1], match[2]))
    return pairs
