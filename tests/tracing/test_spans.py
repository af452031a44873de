"""Tracing on: spans exported over OTLP/HTTP to a real receiver, which decodes the protobuf.

The service runs as `signals serve` does (`live_service`: every resource, real uvicorn servers);
the router and the webhook receivers are real HTTP servers too. A request that carries a
`traceparent` must come out as one trace: its server span the caller's child, the journal commit
and store batch linked to it, the router forward and the webhook delivery its children, and the
router and the webhook receiver handed a `traceparent` of that trace.
"""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs
from tests.conftest import live_service, settings_for
from tests.durability.load import wait_for
from tests.durability.router_receiver import RouterReceiver
from tests.integrity.alerts.webhook_receiver import WebhookReceiver
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.support.service import ServiceProcess, free_port

from signals.settings import OtelSettings
from signals.tracing.otel import OtelTracing, traces_url

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
CALLER = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
BATCH_TRACE = "0af7651916cd43dd8448eb211c80319c"


def event(user_id: str, **fields: Any) -> dict[str, Any]:
    return {"user_id": user_id, "signal_type": "chat", "text": "this keeps failing", **fields}


def one(spans: list[ReceivedSpan]) -> ReceivedSpan:
    assert len(spans) == 1, spans
    return spans[0]


def server_spans(otlp: OtlpReceiver, route: str, trace_id: str) -> list[ReceivedSpan]:
    return [span for span in otlp.named(route) if span.trace_id == trace_id]


def linked(spans: list[ReceivedSpan]) -> set[tuple[str, str]]:
    return {link for span in spans for link in span.links}


async def items_of(http: httpx.AsyncClient, user_id: str) -> list[dict[str, Any]]:
    answer = await http.get("/v1/signals", params={"user_id": user_id})
    assert answer.status_code == 200
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def test_a_request_is_one_trace_through_journal_store_router_and_webhook(
    tmp_path: Path,
) -> None:
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    with OtlpReceiver() as otlp:
        async with RouterReceiver() as router, WebhookReceiver() as hooks:
            await router.up()
            settings = settings_for(
                tmp_path,
                otel__endpoint=otlp.url,
                otel__service_name="signals-under-test",
                router__url=router.url,
                alerts__webhook_url=hooks.url,
                alerts__secret=secret,
                thresholds__default="1",  # the second event of a key within 5 s is critical
            )
            async with live_service(settings) as live:
                assert isinstance(live.services.tracing, OtelTracing)
                headers = {"traceparent": CALLER, "tracestate": "vendor=opaque"}
                for _ in range(2):
                    answer = await live.ingest.post("/v1/log", json=event("u1"), headers=headers)
                    assert answer.status_code == 202
                await wait_for("both records forwarded", lambda: len(router.delivered) == 2)
                await wait_for("the webhook sent", lambda: len(hooks.received) == 1)
                items = await items_of(live.ingest, "u1")
        # The service is closed: everything it buffered is exported.

    requests = sorted(server_spans(otlp, "POST /v1/log", CALLER_TRACE), key=lambda s: s.start_ns)
    assert len(requests) == 2
    for span in requests:
        assert span.kind == "server"
        assert span.parent_span_id == CALLER_SPAN
        assert span.attributes["http.response.status_code"] == 202
        assert span.attributes["http.route"] == "/v1/log"
        assert span.resource["service.name"] == "signals-under-test"
    request_contexts = {(span.trace_id, span.span_id) for span in requests}

    # The records keep the trace, and the context of the request that accepted them.
    assert {item["trace_id"] for item in items} == {CALLER_TRACE}
    assert {item["traceparent"] for item in items} == {
        s.traceparent_prefix + "01" for s in requests
    }

    # Group commits and store batches are roots of their own, linked to every request they served.
    commits = otlp.named("journal commit")
    assert request_contexts <= linked(commits)
    assert all(span.parent_span_id == "" for span in commits)
    batches = otlp.named("store batch")
    assert request_contexts <= linked(batches)
    assert {span.kind for span in batches} == {"consumer"}

    # One forward per record (batch_size 1): the child of its request, and its context sent on.
    forwards = otlp.named("router forward")
    assert {span.parent_span_id for span in forwards} == {s.span_id for s in requests}
    assert {span.trace_id for span in forwards} == {CALLER_TRACE}
    sent = {delivery.headers["traceparent"] for delivery in router.delivered}
    assert sent == {span.traceparent_prefix + "01" for span in forwards}

    # The webhook: the child of the request whose record made the episode critical (the second).
    webhook = one(otlp.named("webhook delivery"))
    assert webhook.kind == "client"
    assert webhook.trace_id == CALLER_TRACE
    assert webhook.parent_span_id == requests[1].span_id
    assert webhook.attributes["http.response.status_code"] == 204
    assert hooks.received[0].headers["traceparent"] == webhook.traceparent_prefix + "01"


async def test_batches_both_ports_and_a_malformed_or_unsampled_caller(tmp_path: Path) -> None:
    with OtlpReceiver() as otlp:
        async with live_service(settings_for(tmp_path, otel__endpoint=otlp.url)) as live:
            batch_parent = f"00-{BATCH_TRACE}-{CALLER_SPAN}-01"
            answer = await live.ingest.post(
                "/v1/log/batch",
                json=[event("batch"), event("batch")],
                headers={"traceparent": batch_parent},
            )
            assert answer.status_code == 202
            answer = await live.integrity.post(
                "/v1/events", json=event("integrity"), headers={"traceparent": CALLER}
            )
            assert answer.status_code == 202
            answer = await live.ingest.post(
                "/v1/log", json=event("malformed"), headers={"traceparent": "00-nonsense-01"}
            )
            assert answer.status_code == 202
            unsampled = f"00-{'1' * 32}-{CALLER_SPAN}-00"
            answer = await live.ingest.post(
                "/v1/log", json=event("unsampled"), headers={"traceparent": unsampled}
            )
            assert answer.status_code == 202
            await live.settle()
            batch = await items_of(live.ingest, "batch")
            integrity = await items_of(live.ingest, "integrity")
            malformed = await items_of(live.ingest, "malformed")
            quiet = await items_of(live.ingest, "unsampled")

    batch_span = one(server_spans(otlp, "POST /v1/log/batch", BATCH_TRACE))
    assert [item["traceparent"] for item in batch] == [batch_span.traceparent_prefix + "01"] * 2
    events_span = one(server_spans(otlp, "POST /v1/events", CALLER_TRACE))
    assert events_span.attributes["signals.port"] == "integrity"
    assert integrity[0]["traceparent"] == events_span.traceparent_prefix + "01"

    # A malformed traceparent is ignored: the request is the root of a new trace.
    (record,) = malformed
    assert record["trace_id"] not in (CALLER_TRACE, BATCH_TRACE)
    root = one(server_spans(otlp, "POST /v1/log", record["trace_id"]))
    assert root.parent_span_id == ""
    assert record["traceparent"].startswith(root.traceparent_prefix)
    assert int(record["traceparent"][-2:], 16) & 1  # sampled (the SDK may add its "random" bit)

    # The caller decided not to sample: the trace is kept on the record, no span is exported.
    (record,) = quiet
    assert record["trace_id"] == "1" * 32
    assert record["traceparent"].endswith("-00")
    assert not [span for span in otlp.spans if span.trace_id == "1" * 32]


@pytest.mark.slow
async def test_signals_serve_exports_its_spans_before_it_exits(tmp_path: Path) -> None:
    with OtlpReceiver() as otlp:
        service = ServiceProcess(
            tmp_path, {"otel": {"endpoint": otlp.url + "/v1/traces", "service_name": "svc"}}
        )
        await asyncio.to_thread(service.start)
        try:
            async with httpx.AsyncClient(base_url=service.ingest) as http:
                answer = await http.post(
                    "/v1/log", json=event("u"), headers={"traceparent": CALLER}
                )
            assert answer.status_code == 202
        finally:
            assert await asyncio.to_thread(service.stop) == 0, service.logs()
    span = one(server_spans(otlp, "POST /v1/log", CALLER_TRACE))
    assert span.parent_span_id == CALLER_SPAN
    assert span.resource["service.name"] == "svc"
    assert '"tracing on"' in service.logs()


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://collector/v1/traces", "https://collector/v1/traces"),
        ("https://gateway/otlp", "https://gateway/otlp/v1/traces"),
    ],
)
def test_the_endpoint_is_a_collector_base_url_or_the_traces_url(endpoint: str, url: str) -> None:
    assert traces_url(endpoint) == url


@pytest.mark.slow
async def test_a_collector_that_is_down_holds_the_close_a_bounded_time() -> None:
    tracing = OtelTracing(OtelSettings(endpoint=f"http://127.0.0.1:{free_port()}"))
    with tracing.store_batch([]):
        pass
    with capture_logs() as logs:
        await tracing.aclose()
    assert [entry["event"] for entry in logs] == ["spans not all exported at shutdown"]
