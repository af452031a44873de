"""Auth, hardening and hostile bodies through the real service: runtime, apps, uvicorn.

In-process (`tests.conftest.live_service`) for statuses, headers, deep JSON and raw-socket path
traversal; a real `signals serve` subprocess for what only a whole process shows: no key ever
reaches its log or its data files, and a key removed from the settings stops working.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import msgspec
import pytest
from tests.conftest import Live, live_service, settings_for
from tests.support.service import ServiceProcess

from signals.auth.headers import CONTENT_SECURITY_POLICY
from signals.auth.keys import digest, keygen
from signals.settings import ApiKey, AuthSettings

INGEST_KEY = "sk_live-ingest-0123456789abcdef"
READ_KEY = "sk_live-read-0123456789abcdef"
EVENT = {"user_id": "u-1", "signal_type": "chat", "text": "this is broken, help"}
DEPTH = 100_000


@pytest.fixture
async def guarded(tmp_path: Path) -> AsyncIterator[Live]:
    settings = msgspec.structs.replace(
        settings_for(tmp_path),
        auth=AuthSettings(
            keys=[
                ApiKey(name="writer", sha256=digest(INGEST_KEY), scopes=["ingest"]),
                ApiKey(name="reader", sha256=digest(READ_KEY), scopes=["read"]),
            ],
            max_failures=5,
        ),
    )
    async with live_service(settings) as live:
        yield live


def write(key: str = INGEST_KEY) -> dict[str, str]:
    return {"X-API-Key": key, "Content-Type": "application/json"}


async def test_statuses_through_the_real_apps(guarded: Live) -> None:
    ingest, integrity = guarded.ingest, guarded.integrity
    assert (await ingest.post("/v1/log", json=EVENT)).status_code == 401
    assert (await ingest.post("/v1/log", json=EVENT, headers=write(READ_KEY))).status_code == 403
    accepted = await ingest.post("/v1/log", json=EVENT, headers=write())
    assert accepted.status_code == 202
    bearer = {"Authorization": f"Bearer {INGEST_KEY}"}
    assert (await integrity.post("/v1/events", json=EVENT, headers=bearer)).status_code == 202
    assert (await ingest.get("/v1/signals", headers={"X-API-Key": READ_KEY})).status_code == 200
    assert (await integrity.get("/v1/anomalies/u-1", headers=write(READ_KEY))).status_code == 200
    assert (await ingest.get("/v1/stats", headers=write())).status_code == 403
    for client in (ingest, integrity):
        for path in ("/health", "/ready", "/metrics", "/openapi.json"):
            assert (await client.get(path)).status_code == 200, path


async def test_dashboard_and_static_files_carry_the_csp(guarded: Live) -> None:
    for path in ("/", "/static/app.js", "/static/style.css"):
        response = await guarded.ingest.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["x-content-type-options"] == "nosniff"
    api = await guarded.integrity.get("/v1/alerts")
    assert api.status_code == 401
    assert api.headers["x-frame-options"] == "DENY"
    assert api.headers["referrer-policy"] == "no-referrer"


def deep(depth: int = DEPTH) -> bytes:
    return b"[" * depth + b"]" * depth


def with_field(name: str, value: bytes) -> bytes:
    return b'{"user_id": "u-1", "signal_type": "chat", "' + name.encode() + b'": ' + value + b"}"


HOSTILE_BODIES: list[tuple[str, str, str, bytes]] = [
    ("ingest", "/v1/log", "application/json", deep()),
    ("ingest", "/v1/log", "application/json", b"[" * 1_000_000),
    ("ingest", "/v1/log", "application/json", b'{"a":' * DEPTH + b"1" + b"}" * DEPTH),
    ("ingest", "/v1/log", "application/json", with_field("metadata", deep())),
    ("ingest", "/v1/log", "application/json", with_field("metadata", b'{"k": ' + deep() + b"}")),
    ("ingest", "/v1/log", "application/json", with_field("text", deep())),
    ("ingest", "/v1/log", "application/json", with_field("zzz", deep())),
    ("ingest", "/log", "application/json", deep()),
    ("ingest", "/v1/log/batch", "application/json", b"[" + deep() + b"]"),
    ("ingest", "/v1/log/batch", "application/json", deep()),
    ("ingest", "/v1/log/batch", "application/x-ndjson", deep() + b"\n" + deep()),
    ("integrity", "/v1/events", "application/json", deep()),
    ("integrity", "/v1/events", "application/json", b"[" + with_field("metadata", deep()) + b"]"),
    ("integrity", "/v1/events", "application/json", with_field("metadata", deep())),
    ("integrity", "/v1/validate", "application/json", deep()),
    ("integrity", "/v1/validate", "application/json", with_field("agent_id", deep())),
]


async def test_deep_json_is_refused_with_a_4xx_never_a_500(guarded: Live) -> None:
    """msgspec stops at about 1000 levels with RecursionError; it must not become a 500."""
    for port, path, media, body in HOSTILE_BODIES:
        client = guarded.ingest if port == "ingest" else guarded.integrity
        headers = {"X-API-Key": INGEST_KEY, "Content-Type": media}
        response = await client.post(path, content=body, headers=headers)
        where = f"{port} {path} {media} {body[:40]!r}"
        assert 400 <= response.status_code < 500, f"{where}: {response.text[:300]}"
        assert response.json()["error"]["code"] in ("malformed_json", "validation_failed"), where
        assert "Traceback" not in response.text
    good = {"X-API-Key": INGEST_KEY}
    assert (await guarded.ingest.post("/v1/log", json=EVENT, headers=good)).status_code == 202
    batch = await guarded.integrity.post("/v1/events", json=[EVENT], headers=good)
    assert batch.status_code == 202


async def test_ndjson_with_one_deep_line_keeps_the_good_one(guarded: Live) -> None:
    body = msgspec.json.encode(EVENT) + b"\n" + deep() + b"\n"
    headers = {"X-API-Key": INGEST_KEY, "Content-Type": "application/x-ndjson"}
    response = await guarded.ingest.post("/v1/log/batch", content=body, headers=headers)
    assert response.status_code == 202
    answer = response.json()
    assert answer["accepted"] == 1
    assert answer["rejected"][0]["index"] == 1
    assert "too deeply" in answer["rejected"][0]["errors"][0]["msg"]


async def raw_get(url: str, target: str) -> tuple[int, bytes]:
    """GET `target` byte for byte as given: no client-side normalization of `..` or `%2f`."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        response = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


TRAVERSALS = [
    "/static/../settings.toml",
    "/static/../../pyproject.toml",
    "/static/..%2f..%2fpyproject.toml",
    "/static/..%2F..%2Fpyproject.toml",
    "/static/%2e%2e/%2e%2e/pyproject.toml",
    "/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
    "/static/..%5c..%5cpyproject.toml",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/%2Fetc%2Fpasswd",
    "/static/vendor/../../../../../../etc/passwd",
    "/static/%00",
]


async def test_static_traversal_is_refused_on_the_wire(guarded: Live) -> None:
    assert (await raw_get(guarded.ingest_url, "/static/app.js"))[0] == 200
    for target in TRAVERSALS:
        status, body = await raw_get(guarded.ingest_url, target)
        assert status in (400, 404), f"{target}: {body[:200]!r}"
        for leaked in (b"root:", b"[project]", b"[tool."):
            assert leaked not in body, target


async def test_instances_sharing_redis_share_the_failure_limit(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    keys = AuthSettings(
        keys=[ApiKey(name="reader", sha256=digest(READ_KEY), scopes=["read"])], max_failures=2
    )
    instances = []
    for name in ("a", "b"):
        settings = settings_for(
            tmp_path / name,
            windows__backend="redis",
            redis__url=redis_url,
            redis__key_prefix=redis_prefix,
        )
        instances.append(msgspec.structs.replace(settings, auth=keys))
    async with live_service(instances[0]) as one, live_service(instances[1]) as two:
        assert (await one.ingest.get("/v1/stats")).status_code == 401
        assert (await two.integrity.get("/v1/alerts")).status_code == 401
        refused = await one.integrity.get("/v1/alerts")  # the third failure, on another instance
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert (await two.ingest.get("/v1/stats")).status_code == 429
        valid = await two.ingest.get("/v1/stats", headers={"X-API-Key": READ_KEY})
        assert valid.status_code == 200  # a valid key is never refused by the address limit


@pytest.mark.slow
def test_keys_never_reach_logs_or_data_files_and_rotation_needs_only_the_settings(
    tmp_path: Path,
) -> None:
    old_key, old_stanza = keygen("old", ["ingest", "read"])
    new_key, new_stanza = keygen("new", ["ingest", "read"])
    guess = new_key[:-4] + "XXXX"
    service = ServiceProcess(tmp_path, {"auth": {"max_failures": 50}})
    base = service.config.read_text()
    service.config.write_text(base + "\n" + old_stanza + "\n\n" + new_stanza + "\n")

    def post(key: str, headers_style: str = "x-api-key") -> int:
        headers = (
            {"X-API-Key": key}
            if headers_style == "x-api-key"
            else {"Authorization": f"Bearer {key}"}
        )
        event = {**EVENT, "metadata": {"note": "no key here"}}
        response = httpx.post(f"{service.ingest}/v1/log", json=event, headers=headers, timeout=30)
        return response.status_code

    with service:
        assert post(old_key) == 202
        assert post(new_key, "bearer") == 202
        assert post(guess) == 401
        assert post(guess, "bearer") == 401
        assert (
            httpx.get(
                f"{service.integrity}/v1/alerts", headers={"X-API-Key": guess}, timeout=30
            ).status_code
            == 401
        )
        assert service.stop(signal.SIGTERM) == 0

    # Rotation: the old key is removed from the settings; after a restart it is refused.
    service.config.write_text(base + "\n" + new_stanza + "\n")
    service.start()
    try:
        assert post(old_key) == 401
        assert post(new_key) == 202
        assert service.stop(signal.SIGTERM) == 0
    finally:
        if service.process is not None and service.process.poll() is None:
            service.kill()

    logs = service.logs()
    assert '"auth refused"' in logs and '"reason":"unknown"' in logs
    files = [path for path in tmp_path.rglob("*") if path.is_file() and path != service.config]
    assert any("journal" in str(path) for path in files)
    for secret in (old_key, new_key, guess):
        assert secret not in logs
        for path in files:
            assert secret.encode() not in path.read_bytes(), path
