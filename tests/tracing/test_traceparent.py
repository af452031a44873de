"""W3C trace context parsing: what is taken, what is ignored (never refused)."""

from __future__ import annotations

import pytest

from signals.tracing.traceparent import (
    TraceParent,
    from_headers,
    new_trace,
    parse,
    request_trace,
    trace_id_of,
    tracestate_pairs,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
VALID = f"00-{TRACE}-{SPAN}-01"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (VALID, TraceParent(TRACE, SPAN, "01")),
        (f"00-{TRACE}-{SPAN}-00", TraceParent(TRACE, SPAN, "00")),
        (f" {VALID}\t", TraceParent(TRACE, SPAN, "01")),  # optional whitespace around it
        (f"01-{TRACE}-{SPAN}-01-what-comes-later", TraceParent(TRACE, SPAN, "01")),
        (f"cc-{TRACE}-{SPAN}-09", TraceParent(TRACE, SPAN, "09")),
    ],
)
def test_valid_headers_are_taken(header: str, expected: TraceParent) -> None:
    assert parse(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        f"ff-{TRACE}-{SPAN}-01",  # version ff is invalid
        f"00-{TRACE}-{SPAN}-01-extra",  # version 00 has exactly four fields
        f"00-{'0' * 32}-{SPAN}-01",  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent id
        f"00-{TRACE.upper()}-{SPAN}-01",  # hex is lowercase
        f"00-{TRACE[:-1]}-{SPAN}-01",
        f"00-{TRACE}-{SPAN}1-01",
        f"00-{TRACE}-{SPAN}-1",
        f"0-{TRACE}-{SPAN}-01",
        f"00_{TRACE}_{SPAN}_01",
        f"00-{TRACE}-{SPAN}-01\n",
        f"01-{TRACE}-{SPAN}-01x",  # a later version's extra fields start with a dash
    ],
)
def test_malformed_headers_are_ignored(header: str) -> None:
    assert parse(header) is None


def test_the_header_round_trips_and_says_whether_sampled() -> None:
    trace = parse(VALID)
    assert trace is not None
    assert trace.header == VALID
    assert trace.sampled
    assert not TraceParent(TRACE, SPAN, "00").sampled
    assert trace_id_of(VALID) == TRACE
    assert trace_id_of(None) is None


def test_a_new_trace_is_valid_unsampled_and_new_each_time() -> None:
    first, second = new_trace(), new_trace()
    assert parse(first.header) == first
    assert first.flags == "00"
    assert first.trace_id != second.trace_id


def test_headers_give_the_parent_and_the_joined_tracestate() -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"traceparent", VALID.encode()),
        (b"tracestate", b"a=1"),
        (b"tracestate", b"b=2"),
    ]
    assert from_headers(headers) == (TraceParent(TRACE, SPAN, "01"), "a=1,b=2")
    assert request_trace(headers) == TraceParent(TRACE, SPAN, "01")


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"tracestate", b"a=1")],
        [(b"traceparent", b"nonsense"), (b"tracestate", b"a=1")],
        [(b"traceparent", VALID.encode()), (b"traceparent", VALID.encode())],  # repeated
        [(b"traceparent", "00-\u00e9".encode())],
    ],
)
def test_without_one_valid_traceparent_a_request_starts_a_new_trace(
    headers: list[tuple[bytes, bytes]],
) -> None:
    assert from_headers(headers) == (None, "")
    trace = request_trace(headers)
    assert trace.trace_id != TRACE
    assert trace.flags == "00"


@pytest.mark.parametrize(
    ("value", "pairs"),
    [
        ("congo=t61rcWkgMzE", [("congo", "t61rcWkgMzE")]),
        (
            "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE",
            [("rojo", "00f067aa0ba902b7"), ("congo", "t61rcWkgMzE")],
        ),
        ("tenant@vendor=x,,  ", [("tenant@vendor", "x")]),
        ("", []),
        ("Upper=1", []),  # keys are lowercase
        ("a=1,a=2", []),  # a key once
        ("a=1,b", []),  # one bad member discards them all
        ("a=1 ", [("a", "1")]),
        ("a=x=y", []),
        (",".join(f"k{i}=v" for i in range(32)), [(f"k{i}", "v") for i in range(32)]),
        (",".join(f"k{i}=v" for i in range(33)), []),  # more than 32 members
    ],
)
def test_tracestate_members(value: str, pairs: list[tuple[str, str]]) -> None:
    assert tracestate_pairs(value) == pairs
