"""Router forwarding from the journal: at least once, in journal order, never in ingest's way."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.durability.evidence import first_seen, journal_ids
from tests.durability.load import post_events, wait_for
from tests.durability.router_receiver import RouterReceiver
from tests.support.service import ServiceProcess

pytestmark = pytest.mark.slow


def router_settings(receiver: RouterReceiver, **overrides: Any) -> dict[str, Any]:
    return {
        "router": {
            "url": receiver.url,
            "timeout_seconds": 1.0,
            "max_backoff_seconds": 0.2,
            **overrides,
        }
    }


async def router_check(http: httpx.AsyncClient) -> dict[str, Any]:
    ready = (await http.get("/ready")).json()
    check: dict[str, Any] = ready["checks"]["router"]
    return check


def metric(text: str, name: str) -> float:
    """The value of one sample (`name` with its labels, as rendered), 0 when absent."""
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found[1]) if found else 0.0


async def test_a_router_down_for_half_the_run_gets_every_record_in_journal_order(
    tmp_path: Path,
) -> None:
    async with RouterReceiver() as receiver:  # down: nothing listens on its port yet
        service = ServiceProcess(tmp_path, router_settings(receiver, batch_size=5))
        await asyncio.to_thread(service.start)
        try:
            async with httpx.AsyncClient(base_url=service.ingest) as http:
                first = await post_events(service.ingest, [f"a-{i}" for i in range(40)], clients=4)

                async def failing() -> bool:
                    check = await router_check(http)
                    return bool(check["status"] == "degraded" and check["consecutive_failures"])

                await wait_for("the router check degraded", failing)
                metrics = (await http.get("/metrics")).text
                assert metric(metrics, 'signals_router_requests_total{outcome="unreachable"}') > 0
                assert metric(metrics, "signals_router_lag_seconds") > 0

                await receiver.up()
                second = await post_events(service.ingest, [f"b-{i}" for i in range(40)], clients=4)
                acked = first.acked | second.acked
                await wait_for("every record delivered", lambda: acked <= set(receiver.event_ids()))
                await wait_for("the router check ok", lambda: _ok(http))
                metrics = (await http.get("/metrics")).text
                assert metric(metrics, 'signals_router_requests_total{outcome="delivered"}') > 0
        finally:
            assert await asyncio.to_thread(service.stop) == 0, service.logs()
    assert len(acked) == 80
    assert first_seen(receiver.event_ids()) == journal_ids(service.data_dir)
    sizes = []
    for delivery in receiver.delivered:
        assert delivery.headers["content-type"] == "application/json"
        assert delivery.body.startswith(b"[")
        records = delivery.records()
        sizes.append(len(records))
        assert delivery.headers["x-request-id"] == records[0]["request_id"]
    assert max(sizes) == 5  # the backlog from the outage went out in full arrays
    assert all(1 <= size <= 5 for size in sizes)


async def _ok(http: httpx.AsyncClient) -> bool:
    check = await router_check(http)
    return bool(check["status"] == "ok" and check["lag_seconds"] == 0)


async def test_a_hanging_router_never_slows_ingest_and_its_lag_grows(tmp_path: Path) -> None:
    async with RouterReceiver(mode="hang") as receiver:
        await receiver.up()
        service = ServiceProcess(
            tmp_path, router_settings(receiver, timeout_seconds=0.5, max_backoff_seconds=0.5)
        )
        await asyncio.to_thread(service.start)
        try:
            async with httpx.AsyncClient(base_url=service.ingest) as http:
                tally = await post_events(service.ingest, [f"h-{i}" for i in range(300)], clients=2)

                async def lag_after_failures() -> float | None:
                    check = await router_check(http)
                    if check["status"] == "degraded" and check["consecutive_failures"] > 0:
                        return float(check["lag_seconds"])
                    return None

                await wait_for("the router check degraded", lag_after_failures)
                earlier = await lag_after_failures()
                assert earlier is not None and earlier > 0

                async def grown() -> bool:
                    later = await lag_after_failures()
                    return later is not None and later > earlier + 0.2

                await wait_for("the router lag growing", grown)
                metrics = (await http.get("/metrics")).text
                assert metric(metrics, 'signals_router_requests_total{outcome="timeout"}') > 0
                assert metric(metrics, "signals_router_lag_seconds") > earlier
        finally:
            assert await asyncio.to_thread(service.stop) == 0, service.logs()
    assert receiver.attempts > 1  # retried, never answered
    assert receiver.delivered == []
    assert len(tally.acked) == 300
    latencies = sorted(tally.latencies)
    p95 = latencies[int(len(latencies) * 0.95)]
    assert p95 < 0.100, f"p95 of POST /v1/log was {p95 * 1000:.1f} ms with a hanging router"
