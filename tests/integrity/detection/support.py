"""HTTP helpers for the detection tests: post events, wait until stored, read episodes.

An event the store holds has been through the windows and the episode tracker: the consumer
writes records, episode changes and new alert deliveries in one transaction. So "visible in
`/v1/signals`" is the condition to wait on before reading `/v1/anomalies`, never a sleep.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

T = TypeVar("T")
Json = dict[str, Any]


async def eventually(
    check: Callable[[], Awaitable[T | None]], within: float = 10.0, every: float = 0.01
) -> T:
    """Poll `check` until it returns something truthy and return that; fail at the deadline."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s (last: {value!r})")
        await asyncio.sleep(every)


def event(user_id: str, signal_type: str = "chat", **fields: Any) -> Json:
    return {"user_id": user_id, "signal_type": signal_type, **fields}


async def log(
    client: httpx.AsyncClient, user_id: str, signal_type: str = "chat", path: str = "/v1/log"
) -> Json:
    """POST one event (`/v1/log` on ingest, `/v1/events` on integrity); the 202 body."""
    response = await client.post(path, json=event(user_id, signal_type))
    assert response.status_code == 202, response.text
    body: Json = response.json()
    return body


async def log_many(
    client: httpx.AsyncClient, user_id: str, count: int, signal_type: str = "chat"
) -> list[Json]:
    return [await log(client, user_id, signal_type) for _ in range(count)]


async def batch(
    client: httpx.AsyncClient, events: list[Json], path: str = "/v1/log/batch"
) -> list[str]:
    """POST events as one JSON array; every one must be accepted. Returns their ids in order."""
    response = await client.post(path, json=events)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["rejected"] == [] and body["accepted"] == len(events), body
    ids: list[str] = body["event_ids"]
    return ids


async def stored_ids(ingest: httpx.AsyncClient, user_id: str | None = None) -> set[str]:
    """Every event id in the store (of `user_id`, when given), walking all pages."""
    ids: set[str] = set()
    params: dict[str, str] = {"limit": "1000"}
    if user_id is not None:
        params["user_id"] = user_id
    while True:
        response = await ingest.get("/v1/signals", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        ids.update(item["event_id"] for item in page["items"])
        if page["next_cursor"] is None:
            return ids
        params["cursor"] = page["next_cursor"]


async def stored(
    ingest: httpx.AsyncClient, event_ids: Iterable[str], user_id: str | None = None,
    within: float = 10.0,
) -> None:  # fmt: skip
    """Wait until the store holds every one of `event_ids` (so they have been analysed)."""
    wanted = set(event_ids)

    async def check() -> bool:
        return wanted <= await stored_ids(ingest, user_id)

    await eventually(check, within)


def anomalies_path(user_id: str) -> str:
    return "/v1/anomalies/" + quote(user_id, safe="")


async def episodes_of(integrity: httpx.AsyncClient, user_id: str, **params: str) -> list[Json]:
    response = await integrity.get(anomalies_path(user_id), params=params)
    assert response.status_code == 200, response.text
    items: list[Json] = response.json()["items"]
    return items


async def all_episodes(integrity: httpx.AsyncClient, **params: str) -> list[Json]:
    response = await integrity.get("/v1/anomalies", params={"limit": "1000", **params})
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    items: list[Json] = response.json()["items"]
    return items


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def micros(text: str) -> int:
    """An RFC 3339 instant as integer epoch microseconds, exact (as the windows compare)."""
    moment = instant(text)
    return (moment - datetime(1970, 1, 1, tzinfo=moment.tzinfo)) // timedelta(microseconds=1)


def plus_seconds(text: str, seconds: float) -> str:
    later = instant(text) + timedelta(microseconds=round(seconds * 1_000_000))
    return later.isoformat(timespec="microseconds").replace("+00:00", "Z")


async def until_clock(moment: str) -> None:
    """Let the wall clock pass `moment` (an RFC 3339 instant): here time passing is the point."""
    delay = instant(moment).timestamp() - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
