"""The guard through a real app with both ports' route paths: every status it can answer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import redis.asyncio
from structlog.testing import capture_logs
from tests.auth.stub import (
    ADMIN_KEY,
    INGEST_KEY,
    KEYS,
    READ_KEY,
    MakeStub,
    client_for,
    redis_settings,
    settings_with,
)

from signals.auth.keys import digest
from signals.auth.wiring import guards_for
from signals.metrics import Metrics
from signals.settings import ApiKey

EVENT = {"user_id": "u1", "signal_type": "chat"}


def auth_failures(metrics: Metrics, reason: str) -> float:
    value = metrics.registry.get_sample_value("signals_auth_failures_total", {"reason": reason})
    return value or 0.0


def rate_limited(metrics: Metrics, limit: str) -> float:
    value = metrics.registry.get_sample_value("signals_rate_limited_total", {"limit": limit})
    return value or 0.0


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"]["code"] == code
    assert body["request_id"] == response.headers["x-request-id"]
    return body


@pytest.mark.parametrize(
    "headers",
    [{"X-API-Key": INGEST_KEY}, {"Authorization": f"Bearer {INGEST_KEY}"}],
    ids=["x-api-key", "bearer"],
)
async def test_a_key_with_the_scope_passes(make_stub: MakeStub, headers: dict[str, str]) -> None:
    async with client_for(make_stub(settings_with())) as client:
        response = await client.post("/v1/log", json=EVENT, headers=headers)
    assert response.status_code == 202
    assert response.json()["api_key"] == "writer"


@pytest.mark.parametrize(
    ("method", "path", "key"),
    [
        ("POST", "/v1/log", INGEST_KEY),
        ("POST", "/log", INGEST_KEY),
        ("POST", "/v1/log/batch", INGEST_KEY),
        ("POST", "/v1/events", INGEST_KEY),
        ("POST", "/v1/validate", INGEST_KEY),
        ("GET", "/v1/signals", READ_KEY),
        ("GET", "/v1/signals/export", READ_KEY),
        ("GET", "/v1/stats", READ_KEY),
        ("GET", "/v1/anomalies", READ_KEY),
        ("GET", "/v1/anomalies/user%2F1", READ_KEY),
        ("GET", "/v1/alerts", READ_KEY),
        ("POST", "/v1/log", ADMIN_KEY),
        ("GET", "/v1/signals", ADMIN_KEY),
    ],
)
async def test_each_route_with_its_scope(
    make_stub: MakeStub, method: str, path: str, key: str
) -> None:
    async with client_for(make_stub(settings_with())) as client:
        response = await client.request(method, path, json=EVENT, headers={"X-API-Key": key})
        missing = await client.request(method, path, json=EVENT)
    assert response.status_code in (200, 202), response.text
    assert_envelope(missing, 401, "unauthorized")


async def test_missing_and_unknown_keys_get_401_and_count(make_stub: MakeStub) -> None:
    metrics = Metrics()
    async with client_for(make_stub(settings_with(), metrics)) as client:
        missing = await client.get("/v1/signals")
        unknown = await client.get("/v1/signals", headers={"X-API-Key": "sk_not-a-key"})
        basic = await client.get("/v1/signals", headers={"Authorization": "Basic eDp5"})
    body = assert_envelope(missing, 401, "unauthorized")
    assert body["error"]["message"] == "API key required"
    assert missing.headers["www-authenticate"] == "Bearer"
    body = assert_envelope(unknown, 401, "unauthorized")
    assert body["error"]["message"] == "unknown API key"
    assert "sk_not-a-key" not in unknown.text
    assert_envelope(basic, 401, "unauthorized")
    assert auth_failures(metrics, "missing") == 2
    assert auth_failures(metrics, "unknown") == 1


@pytest.mark.parametrize(
    ("method", "path", "key"),
    [
        ("POST", "/v1/log", READ_KEY),
        ("POST", "/v1/events", READ_KEY),
        ("GET", "/v1/signals", INGEST_KEY),
        ("GET", "/v1/anomalies/u1", INGEST_KEY),
    ],
)
async def test_a_key_without_the_scope_gets_403(
    make_stub: MakeStub, method: str, path: str, key: str
) -> None:
    metrics = Metrics()
    async with client_for(make_stub(settings_with(), metrics)) as client:
        response = await client.request(method, path, json=EVENT, headers={"X-API-Key": key})
    body = assert_envelope(response, 403, "forbidden")
    assert "scope" in body["error"]["message"]
    assert key not in response.text
    assert auth_failures(metrics, "scope") == 1


@pytest.mark.parametrize(
    "path", ["/health", "/ready", "/", "/static/app.js", "/openapi.json", "/metrics"]
)
async def test_open_paths_need_no_key(make_stub: MakeStub, path: str) -> None:
    async with client_for(make_stub(settings_with())) as client:
        response = await client.get(path)
    assert response.status_code == 200, response.text


async def test_protect_metrics_asks_for_read_or_admin(make_stub: MakeStub) -> None:
    async with client_for(make_stub(settings_with(protect_metrics=True))) as client:
        assert (await client.get("/metrics")).status_code == 401
        ingest_only = await client.get("/metrics", headers={"X-API-Key": INGEST_KEY})
        assert ingest_only.status_code == 403
        for key in (READ_KEY, ADMIN_KEY):
            assert (await client.get("/metrics", headers={"X-API-Key": key})).status_code == 200
        assert (await client.get("/health")).status_code == 200


async def test_unknown_paths(make_stub: MakeStub) -> None:
    async with client_for(make_stub(settings_with())) as client:
        assert_envelope(await client.get("/favicon.ico"), 404, "not_found")
        assert_envelope(await client.get("/v1/nothing"), 401, "unauthorized")
        assert_envelope(
            await client.get("/v1/nothing", headers={"X-API-Key": READ_KEY}), 404, "not_found"
        )
        assert_envelope(await client.post("/nothing"), 401, "unauthorized")
        assert_envelope(await client.delete("/v1/signals"), 401, "unauthorized")
        wrong_method = await client.delete("/v1/signals", headers={"X-API-Key": INGEST_KEY})
        assert_envelope(wrong_method, 405, "method_not_allowed")


async def test_head_needs_what_get_needs(make_stub: MakeStub) -> None:
    async with client_for(make_stub(settings_with())) as client:
        assert (await client.head("/v1/signals")).status_code == 401
        response = await client.head("/v1/signals", headers={"X-API-Key": READ_KEY})
        assert response.status_code == 200


async def test_no_keys_means_auth_off(make_stub: MakeStub) -> None:
    async with client_for(make_stub(settings_with([]))) as client:
        assert (await client.post("/v1/log", json=EVENT)).status_code == 202
        assert (await client.get("/v1/anomalies")).status_code == 200
        unknown = await client.get("/v1/stats", headers={"X-API-Key": "sk_whatever"})
        assert unknown.status_code == 200


async def test_rotation_both_keys_work_then_the_removed_one_is_refused(
    make_stub: MakeStub,
) -> None:
    old = ApiKey(name="old", sha256=digest("sk_old-key"), scopes=["ingest"])
    new = ApiKey(name="new", sha256=digest("sk_new-key"), scopes=["ingest"])
    async with client_for(make_stub(settings_with([old, new]))) as client:
        for key in ("sk_old-key", "sk_new-key"):
            response = await client.post("/v1/log", json=EVENT, headers={"X-API-Key": key})
            assert response.status_code == 202
    async with client_for(make_stub(settings_with([new]))) as client:
        refused = await client.post("/v1/log", json=EVENT, headers={"X-API-Key": "sk_old-key"})
        kept = await client.post("/v1/log", json=EVENT, headers={"X-API-Key": "sk_new-key"})
    assert_envelope(refused, 401, "unauthorized")
    assert kept.status_code == 202


async def test_too_many_failures_block_the_address_but_never_a_valid_key(
    make_stub: MakeStub,
) -> None:
    metrics = Metrics()
    app = make_stub(settings_with(max_failures=3), metrics)
    async with client_for(app, "198.51.100.7") as attacker, client_for(app, "::1") as other:
        statuses = [
            (await attacker.get("/v1/signals", headers={"X-API-Key": f"sk_guess{i}"})).status_code
            for i in range(3)
        ]
        assert statuses == [401, 401, 401]
        ok = await attacker.get("/v1/signals", headers={"X-API-Key": READ_KEY})
        assert ok.status_code == 200  # three failures are not more than three
        fourth = await attacker.get("/v1/signals", headers={"X-API-Key": "sk_guess4"})
        body = assert_envelope(fourth, 429, "rate_limited")
        assert 1 <= int(fourth.headers["retry-after"]) <= 60
        assert body["error"]["details"] == [{"retry_after": int(fourth.headers["retry-after"])}]
        still = await attacker.get("/v1/signals")
        assert_envelope(still, 429, "rate_limited")
        assert 1 <= int(still.headers["retry-after"]) <= 60
        # Behind a proxy or a NAT everyone shares the address: a valid key still gets through.
        valid = await attacker.get("/v1/signals", headers={"X-API-Key": READ_KEY})
        assert valid.status_code == 200
        assert (await attacker.get("/health")).status_code == 200  # open paths stay open
        other_ok = await other.get("/v1/signals", headers={"X-API-Key": READ_KEY})
        assert other_ok.status_code == 200
    assert rate_limited(metrics, "auth_failures") == 2
    assert auth_failures(metrics, "unknown") == 4


async def test_scope_failures_count_towards_the_limit(make_stub: MakeStub) -> None:
    app = make_stub(settings_with(max_failures=2))
    async with client_for(app) as client:
        statuses = [
            (await client.get("/v1/signals", headers={"X-API-Key": INGEST_KEY})).status_code
            for _ in range(3)
        ]
        keyless = await client.get("/v1/signals")
    # The key is valid, so it is never refused by the limit; its failures block guessers.
    assert statuses == [403, 403, 403]
    assert keyless.status_code == 429


async def test_both_ports_share_the_failure_limit(make_stub: MakeStub) -> None:
    """The runtime hands one `guards_for` list to both apps: they share its limiter."""
    settings = settings_with(max_failures=1)
    metrics = Metrics()
    guards = guards_for(settings, metrics, None)
    ingest, integrity = (
        make_stub(settings, metrics, guards=guards),
        make_stub(settings, metrics, guards=guards),
    )
    async with client_for(ingest) as on_ingest, client_for(integrity) as on_integrity:
        assert (await on_ingest.post("/v1/log", json=EVENT)).status_code == 401
        assert (await on_integrity.post("/v1/events", json=EVENT)).status_code == 429
        assert (await on_ingest.post("/v1/log", json=EVENT)).status_code == 429
        valid = await on_ingest.post("/v1/log", json=EVENT, headers={"X-API-Key": INGEST_KEY})
        assert valid.status_code == 202


async def test_key_rate_limits_writes_with_retry_after(make_stub: MakeStub) -> None:
    metrics = Metrics()
    limited = ApiKey(
        name="slow", sha256=digest("sk_slow"), scopes=["ingest", "read"], rate_per_second=0.5
    )
    async with client_for(make_stub(settings_with([limited]), metrics)) as client:
        first = await client.post("/v1/log", json=EVENT, headers={"X-API-Key": "sk_slow"})
        second = await client.post("/v1/log", json=EVENT, headers={"X-API-Key": "sk_slow"})
        reads = [
            (await client.get("/v1/signals", headers={"X-API-Key": "sk_slow"})).status_code
            for _ in range(3)
        ]
    assert first.status_code == 202  # default burst: max(1, ceil(0.5)) = 1
    body = assert_envelope(second, 429, "rate_limited")
    assert int(second.headers["retry-after"]) == 2
    assert "'slow'" in body["error"]["message"]
    assert reads == [200, 200, 200]  # reads are not rate limited
    assert rate_limited(metrics, "key_rate") == 1
    assert auth_failures(metrics, "unknown") == 0


async def test_key_rate_burst(make_stub: MakeStub) -> None:
    bursty = ApiKey(
        name="bursty", sha256=digest("sk_b"), scopes=["ingest"], rate_per_second=0.1, burst=4
    )
    async with client_for(make_stub(settings_with([bursty]))) as client:
        statuses = [
            (await client.post("/v1/events", json=EVENT, headers={"X-API-Key": "sk_b"})).status_code
            for _ in range(5)
        ]
    assert statuses == [202, 202, 202, 202, 429]


async def test_logs_name_the_key_never_the_key_itself(make_stub: MakeStub) -> None:
    app = make_stub(settings_with())
    with capture_logs() as logs:
        async with client_for(app) as client:
            await client.get("/v1/signals", headers={"X-API-Key": INGEST_KEY})
            await client.get("/v1/signals", headers={"Authorization": "Bearer sk_wrong-guess"})
    refused = [entry for entry in logs if entry["event"] == "auth refused"]
    assert [(entry["reason"], entry["api_key"]) for entry in refused] == [
        ("scope", "writer"),
        ("unknown", None),
    ]
    text = repr(logs)
    for secret in (INGEST_KEY, "sk_wrong-guess", *(key.sha256 for key in KEYS)):
        assert secret not in text


async def test_two_instances_share_limits_through_redis(
    make_stub: MakeStub, redis_url: str, redis_prefix: str
) -> None:
    limited = ApiKey(name="w", sha256=digest("sk_w"), scopes=["ingest"], rate_per_second=0.2)
    settings = redis_settings(redis_prefix, [*KEYS, limited], max_failures=1)
    first = redis.asyncio.from_url(redis_url, socket_timeout=5)
    second = redis.asyncio.from_url(redis_url, socket_timeout=5)
    try:
        one = make_stub(settings, redis_client=first)
        two = make_stub(settings, redis_client=second)
        async with client_for(one) as on_one, client_for(two) as on_two:
            assert (await on_one.post("/v1/log", headers={"X-API-Key": "sk_w"})).status_code == 202
            rate = await on_two.post("/v1/log", headers={"X-API-Key": "sk_w"})
            assert_envelope(rate, 429, "rate_limited")
            assert 1 <= int(rate.headers["retry-after"]) <= 5
            assert (await on_one.get("/v1/stats")).status_code == 401
            assert (await on_two.get("/v1/stats")).status_code == 429  # the second failure
            assert_envelope(await on_one.get("/v1/stats"), 429, "rate_limited")
            valid = await on_one.get("/v1/stats", headers={"X-API-Key": READ_KEY})
            assert valid.status_code == 200
    finally:
        await first.aclose()
        await second.aclose()
