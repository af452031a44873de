"""Hostile pages and proxies through the real service: DNS rebinding (`server.allowed_hosts`),
`/ready` that shows states only to callers without a read key, strict query numbers, and files
that only their owner can read."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
import pytest
from tests.conftest import Live, live_service, settings_for

from signals.auth.hosts import ALLOWED_KEPT, HostGuard, HostPolicy, host_name
from signals.auth.keys import digest
from signals.metrics import Metrics
from signals.settings import ApiKey, AuthSettings, ServerSettings

READ_KEY = "sk_hosts-read-0123456789abcdef"
INGEST_KEY = "sk_hosts-ingest-0123456789abcdef"
EVENT = {"user_id": "u-1", "signal_type": "chat", "text": "help"}
KEYS = AuthSettings(
    keys=[
        ApiKey(name="reader", sha256=digest(READ_KEY), scopes=["read"]),
        ApiKey(name="writer", sha256=digest(INGEST_KEY), scopes=["ingest"]),
    ]
)


@pytest.mark.parametrize(
    ("header", "name"),
    [
        (b"localhost", "localhost"),
        (b"LocalHost:8000", "localhost"),
        (b"localhost.:8000", "localhost"),
        (b"127.0.0.1:8000", "127.0.0.1"),
        (b"[::1]:8000", "::1"),
        (b"[::1]", "::1"),
        (b"attacker.example:8000", "attacker.example"),
        (b"", None),
        (b"[::1", None),
        (b"[::1]x", None),
        (b"localhost:80a", None),
        (b"localhost:\xc2\xb2", None),
        (b"h\xc3\xb4st", None),
    ],
)
def test_host_name(header: bytes, name: str | None) -> None:
    assert host_name(header) == name


def test_host_policy() -> None:
    loopback = HostPolicy()
    assert all(loopback.allows(n) for n in ("localhost", "127.0.0.1", "127.0.0.2", "::1"))
    assert not any(loopback.allows(n) for n in ("attacker.example", "0.0.0.0", "10.0.0.1"))
    listed = HostPolicy(["signals.example.com", "*.internal.example", "[::1]"])
    assert listed.allows("signals.example.com")
    assert listed.allows("a.internal.example")
    assert listed.allows("::1")
    assert not listed.allows("internal.example")
    assert not listed.allows("localhost")  # a list is the whole list
    assert HostPolicy(["*"]).allows("anything.example")


def envelope(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"]["code"] == code
    return body


async def test_without_keys_only_loopback_names_are_served(live: Live) -> None:
    rebound = {"Host": "attacker.example:8000"}
    await live.ingest.post("/v1/log", json=EVENT)
    envelope(await live.ingest.get("/v1/signals", headers=rebound), 400, "invalid_host")
    envelope(await live.ingest.post("/v1/log", json=EVENT, headers=rebound), 400, "invalid_host")
    envelope(await live.integrity.get("/v1/anomalies", headers=rebound), 400, "invalid_host")
    envelope(await live.ingest.get("/ready", headers=rebound), 400, "invalid_host")
    for host in ("localhost:8000", "127.0.0.1", "[::1]:8000", "LOCALHOST"):
        assert (await live.ingest.get("/v1/signals", headers={"Host": host})).status_code == 200
    metrics = (await live.ingest.get("/metrics")).text
    assert 'signals_rejections_total{reason="invalid_host"} 4.0' in metrics


async def test_two_host_headers_are_refused_whichever_comes_first(live: Live) -> None:
    port = urlsplit(live.ingest_url).port
    for hosts in (b"localhost", b"attacker.example"), (b"localhost", b"127.0.0.1"):
        request = b"GET /health HTTP/1.1\r\nHost: %s\r\nHost: %s\r\n\r\n" % hosts
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        head, _, body = (await reader.read(65536)).partition(b"\r\n\r\n")
        writer.close()
        assert head.startswith(b"HTTP/1.1 400 "), head
        error = msgspec.json.decode(body)["error"]
        assert error["code"] == "invalid_host"
        assert error["message"] == "more than one Host header"
        assert error["details"] == [{"host": b", ".join(hosts).decode()}]


async def test_with_keys_any_host_unless_allowed_hosts_is_set(tmp_path: Path) -> None:
    keyed = msgspec.structs.replace(settings_for(tmp_path / "a"), auth=KEYS)
    async with live_service(keyed) as live:
        response = await live.ingest.get(
            "/v1/signals", headers={"Host": "signals.example.com", "X-API-Key": READ_KEY}
        )
        assert response.status_code == 200
    listed = msgspec.structs.replace(
        keyed,
        data_dir=str(tmp_path / "b"),
        server=ServerSettings(allowed_hosts=["signals.example.com"]),
    )
    async with live_service(listed) as live:
        read = {"X-API-Key": READ_KEY}
        ok = await live.ingest.get("/v1/signals", headers={**read, "Host": "signals.example.com"})
        assert ok.status_code == 200
        other = await live.ingest.get("/v1/signals", headers={**read, "Host": "other.example"})
        envelope(other, 400, "invalid_host")


async def test_ready_shows_states_only_without_a_read_key(tmp_path: Path) -> None:
    keyed = msgspec.structs.replace(settings_for(tmp_path), auth=KEYS)
    async with live_service(keyed) as live:
        bare = (await live.ingest.get("/ready")).json()
        assert bare["status"] == "ready"
        assert all(check == {"status": "ok"} for check in bare["checks"].values()), bare
        writer = await live.ingest.get("/ready", headers={"X-API-Key": INGEST_KEY})
        assert "lag_seconds" not in writer.json()["checks"]["consumer"]
        wrong = await live.ingest.get("/ready", headers={"X-API-Key": "sk_not-a-key"})
        assert wrong.json() == bare
        detailed = (await live.ingest.get("/ready", headers={"X-API-Key": READ_KEY})).json()
        assert "lag_seconds" in detailed["checks"]["consumer"]
        assert detailed["checks"]["windows"]["backend"] == "MemoryWindows"


async def test_ready_shows_details_while_auth_is_off(live: Live) -> None:
    checks = (await live.ingest.get("/ready")).json()["checks"]
    assert "lag_seconds" in checks["consumer"]


# Superscript two, fullwidth one-zero, Arabic-Indic three: str.isdigit() takes them all.
@pytest.mark.parametrize(
    "value", ["\u00b2", "\uff11\uff10", "\u0663", "1\u00b2", " 5", "+5", "5.0", "0", "1001", "-1"]
)
async def test_limit_takes_ascii_digits_only(live: Live, value: str) -> None:
    body = envelope(
        await live.ingest.get("/v1/signals", params={"limit": value}), 422, "validation_failed"
    )
    assert body["error"]["details"] == [
        {"loc": ["query", "limit"], "msg": "must be an integer from 1 to 1000"}
    ]


@pytest.fixture
async def permissive_umask() -> AsyncIterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


async def test_data_dir_journal_and_sqlite_are_the_owners_only(
    tmp_path: Path, permissive_umask: None
) -> None:
    settings = settings_for(tmp_path)
    async with live_service(settings) as live:
        assert (await live.ingest.post("/v1/log", json=EVENT)).status_code == 202
        await live.settle()
        data = Path(settings.data_dir)
        found = {
            entry.path: stat.S_IMODE(entry.stat().st_mode)
            for entry in os.scandir(data)
            if entry.name.startswith("signals.db") or entry.name == "instance_id"
        }
        found |= {
            entry.path: stat.S_IMODE(entry.stat().st_mode)
            for entry in os.scandir(data / "journal")
            if entry.name.startswith("segment-")
        }
        assert {Path(path).name for path in found} >= {
            "instance_id",
            "signals.db",
            "signals.db-wal",
            "signals.db-shm",
            "segment-000000000001.jsonl",
        }
        assert set(found.values()) == {0o600}, found
        assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(data / "journal").st_mode) == 0o700


async def test_the_guard_keeps_few_allowed_hosts_and_never_a_refused_one() -> None:
    answered: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        answered.append(200)

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            answered.append(message["status"])

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    guard = HostGuard(app, policy=HostPolicy(["*.example.com"]), metrics=Metrics())

    async def call(host: bytes) -> int:
        answered.clear()
        scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"host", host)]}
        await guard(scope, receive, send)
        return answered[-1]

    for n in range(ALLOWED_KEPT * 3):
        assert await call(b"n%d.example.com" % n) == 200
        assert await call(b"n%d.example.org" % n) == 400
        assert await call(b"n%d.example.org" % n) == 400  # refusals are decided afresh
    assert await call(b"n0.example.com") == 200
    assert await call(b"evil.example.org") == 400
    assert len(guard._allowed) == ALLOWED_KEPT
