"""Redis lost and found while `signals serve` runs (docs/semantics.md), with a private redis-server.

Killing Redis must not lose or refuse an event: windowing carries on in memory, `/ready` says
degraded, one error line and one `signals_windows_fallbacks_total` count the outage. Redis
back on the same port: after `redis.retry_seconds` the service is ready again, and the events
windowed in memory meanwhile are handed to Redis, so a burst spanning the recovery is still seen.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integrity.detection.support import Json, episodes_of, eventually, log, log_many, stored
from tests.support.redis_server import RedisProcess, unique_prefix
from tests.support.service import ServiceProcess

pytestmark = pytest.mark.slow

RETRY_SECONDS = 0.2


def log_lines(service: ServiceProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in service.logs().splitlines() if line.startswith("{")]


def metric(text: str, name: str) -> float:
    [value] = [line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(value)


async def readiness(client: httpx.AsyncClient) -> Json:
    response = await client.get("/ready")
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


async def test_redis_lost_and_back_loses_nothing_and_says_so_once(tmp_path: Path) -> None:
    with RedisProcess() as redis_server:
        service = ServiceProcess(tmp_path, {
            "thresholds": {"default": 3},
            "windows": {"backend": "redis", "seconds": 30.0},
            "redis": {"url": redis_server.url, "key_prefix": unique_prefix(),
                      "retry_seconds": RETRY_SECONDS, "timeout_seconds": 0.5},
        })  # fmt: skip
        try:
            await asyncio.to_thread(service.start)
            async with (
                httpx.AsyncClient(base_url=service.ingest, timeout=10) as ingest,
                httpx.AsyncClient(base_url=service.integrity, timeout=10) as integrity,
            ):
                sent = [item["event_id"] for item in await log_many(ingest, "before", 2)]
                await stored(ingest, sent)
                assert (await readiness(ingest))["status"] == "ready"

                redis_server.stop()
                # During the outage: every event accepted and stored; a burst is still seen.
                during = await log_many(ingest, "burst", 4)
                sent += [item["event_id"] for item in during]
                await stored(ingest, sent)
                [episode] = await episodes_of(integrity, "burst")
                assert (episode["peak_count"], episode["sample_event_ids"]) == (
                    4, [during[-1]["event_id"]],
                )  # fmt: skip
                for port in (ingest, integrity):
                    ready = await readiness(port)
                    assert ready["status"] == "degraded"
                    assert ready["checks"]["windows"]["status"] == "degraded"
                # More batches over several retry intervals: each retry fails quietly.
                for _ in range(3):
                    await asyncio.sleep(RETRY_SECONDS)  # let a retry fall due: time is the point
                    sent.append((await log(integrity, "spans", path="/v1/events"))["event_id"])
                    await stored(ingest, sent)
                metrics = (await ingest.get("/metrics")).text
                assert metric(metrics, "signals_windows_fallbacks_total") == 1.0
                assert metric(metrics, "signals_windows_degraded") == 1.0

                redis_server.start()  # the same port

                async def ready_again() -> bool:
                    sent.append((await log(ingest, "probe"))["event_id"])
                    return bool((await readiness(ingest))["status"] == "ready")

                await eventually(ready_again, within=10.0, every=RETRY_SECONDS / 4)
                # "spans" had 3 events in memory, handed to Redis at the recovery: a fourth
                # is the one over the threshold.
                fourth = await log(ingest, "spans")
                sent.append(fourth["event_id"])
                await stored(ingest, sent)
                [spanning] = await episodes_of(integrity, "spans")
                assert (spanning["peak_count"], spanning["sample_event_ids"]) == (
                    4, [fourth["event_id"]],
                )  # fmt: skip
                assert (await readiness(integrity))["checks"]["windows"]["status"] == "ok"
                metrics = (await ingest.get("/metrics")).text
                assert metric(metrics, "signals_windows_fallbacks_total") == 1.0
                assert metric(metrics, "signals_windows_degraded") == 0.0
                assert len(sent) == len(set(sent))
            assert await asyncio.to_thread(service.stop) == 0
        finally:
            service.__exit__()

    lines = log_lines(service)
    errors = [line for line in lines if line["level"] == "error"]
    assert [line["event"] for line in errors] == [
        "redis windows lost; counting in memory until redis is back"
    ], errors
    assert errors[0]["redis"] == redis_server.url
    assert [line for line in lines if line["event"] == "redis windows restored"]
