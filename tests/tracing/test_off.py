"""Tracing off (`otel.endpoint` empty, the default): no SDK object, yet every record has a trace.

The records keep the caller's `traceparent` as it came (else a new, unsampled trace), and the
router forward and the webhook carry it on unchanged, so a trace that passes through a service
that does not record spans is still one trace downstream.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from tests.conftest import live_service, settings_for
from tests.durability.load import wait_for
from tests.durability.router_receiver import RouterReceiver
from tests.integrity.alerts.webhook_receiver import WebhookReceiver

from signals.http import RequestContext
from signals.tracing.base import Tracing
from signals.tracing.traceparent import parse

CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
FIRST = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def event(user_id: str) -> dict[str, Any]:
    return {"user_id": user_id, "signal_type": "chat", "text": "where is my order"}


async def test_records_keep_the_callers_trace_and_forward_and_webhook_carry_it(
    tmp_path: Path,
) -> None:
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    async with RouterReceiver() as router, WebhookReceiver() as hooks:
        await router.up()
        settings = settings_for(
            tmp_path,
            router__url=router.url,
            alerts__webhook_url=hooks.url,
            alerts__secret=secret,
            thresholds__default="1",
        )
        async with live_service(settings) as live:
            # No provider, no exporter, no span middleware: the app is what it was before.
            assert type(live.services.tracing) is Tracing
            for app in (live.services.ingest_app, live.services.integrity_app):
                assert isinstance(app.build_middleware_stack(), RequestContext)

            # The second event of the key makes the episode critical: its trace is the webhook's.
            for caller in (FIRST, CALLER):
                answer = await live.ingest.post(
                    "/v1/log", json=event("traced"), headers={"traceparent": caller}
                )
                assert answer.status_code == 202
            answer = await live.integrity.post("/v1/events", json=event("fresh"))
            assert answer.status_code == 202
            answer = await live.ingest.post(
                "/v1/log/batch",
                json=[event("malformed")],
                headers={"traceparent": CALLER.upper(), "tracestate": "a=1"},
            )
            assert answer.status_code == 202
            await wait_for("every record forwarded", lambda: len(router.delivered) == 4)
            await wait_for("the webhook sent", lambda: len(hooks.received) == 1)
            await live.settle()
            items = (await live.ingest.get("/v1/signals")).json()["items"]

    by_user: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_user.setdefault(item["user_id"], []).append(item)
    assert [item["traceparent"] for item in by_user["traced"]] == [CALLER, FIRST]  # newest first
    assert [item["trace_id"] for item in by_user["traced"]] == [CALLER[3:35], FIRST[3:35]]
    for user in ("fresh", "malformed"):
        (item,) = by_user[user]
        fresh = parse(item["traceparent"])
        assert fresh is not None
        assert fresh.trace_id == item["trace_id"] not in (CALLER[3:35], FIRST[3:35])
        assert fresh.flags == "00"  # nothing recorded here: not sampled

    forwarded = {d.records()[0]["event_id"]: d.headers["traceparent"] for d in router.delivered}
    assert forwarded == {item["event_id"]: item["traceparent"] for item in items}
    assert hooks.received[0].headers["traceparent"] == CALLER


def test_a_call_no_request_caused_starts_a_trace_of_its_own() -> None:
    # A webhook for an episode closed by time alone: no record's trace to carry.
    with Tracing().call("webhook delivery", None) as call:
        started = parse(call.headers["traceparent"])
    assert started is not None and not started.sampled
    with Tracing().call("webhook delivery", None) as again:
        assert again.headers["traceparent"] != call.headers["traceparent"]
    caused = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with Tracing().call("webhook delivery", caused) as carried:
        assert carried.headers == {"traceparent": caused}
