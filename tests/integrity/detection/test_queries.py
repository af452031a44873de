"""`GET /v1/anomalies` and `/v1/anomalies/{user_id}`: filters, keyset pages, bad parameters.

One service holds four episodes opened in a known order; every test reads them over HTTP.
Queries are the store's business, not the windows', so memory windows suffice here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import Any

import httpx
import pytest
import pytest_asyncio
from tests.conftest import live_service, settings_for
from tests.integrity.detection.support import (
    Json,
    anomalies_path,
    batch,
    episodes_of,
    event,
    instant,
    plus_seconds,
    stored,
)

# (user, signal_type, events): with T = 3, 4 events open a warning, 5 escalate to critical.
BURSTS = [("alpha", "chat", 4), ("beta", "chat", 5), ("alpha", "login", 5), ("gamma", "login", 4)]


@dataclass
class Opened:
    integrity: httpx.AsyncClient
    ingest: httpx.AsyncClient
    episodes: list[Json]  # in the order opened: BURSTS[0] first

    def ids(self, *which: int) -> list[str]:
        return [self.episodes[n]["id"] for n in which]


# One service for the whole module (read-only tests): it and its clients live in the module's loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def opened(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Opened]:
    tmp_path = tmp_path_factory.mktemp("queries")
    settings = settings_for(tmp_path, THRESHOLDS__DEFAULT="3", WINDOWS__SECONDS="30")
    async with live_service(settings) as live:
        episodes = []
        for user, kind, count in BURSTS:
            # One burst stored before the next is sent: their opened_at are strictly ordered.
            ids = await batch(live.ingest, [event(user, kind) for _ in range(count)])
            await stored(live.ingest, ids, user)
            [episode] = await episodes_of(live.integrity, user, signal_type=kind)
            episodes.append(episode)
        assert [e["severity"] for e in episodes] == ["warning", "critical", "critical", "warning"]
        yield Opened(live.integrity, live.ingest, episodes)


async def ids_of(client: httpx.AsyncClient, path: str, **params: str) -> list[str]:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    return [item["id"] for item in response.json()["items"]]


async def test_newest_first_and_each_filter(opened: Opened) -> None:
    get = opened.integrity
    assert await ids_of(get, "/v1/anomalies") == opened.ids(3, 2, 1, 0)
    assert await ids_of(get, "/v1/anomalies", severity="critical") == opened.ids(2, 1)
    assert await ids_of(get, "/v1/anomalies", severity="warning") == opened.ids(3, 0)
    assert await ids_of(get, "/v1/anomalies", signal_type="login") == opened.ids(3, 2)
    assert await ids_of(get, "/v1/anomalies", signal_type="chat", severity="critical") == (
        opened.ids(1)
    )
    assert await ids_of(get, "/v1/anomalies", signal_type="signup") == []
    assert await ids_of(get, anomalies_path("alpha")) == opened.ids(2, 0)
    assert await ids_of(get, anomalies_path("alpha"), signal_type="chat") == opened.ids(0)
    assert await ids_of(get, anomalies_path("alpha"), severity="critical") == opened.ids(2)
    assert await ids_of(get, anomalies_path("beta"), signal_type="login") == []


async def test_since_is_inclusive_on_opened_at_in_any_offset(opened: Opened) -> None:
    get = opened.integrity
    third = opened.episodes[2]["opened_at"]
    assert await ids_of(get, "/v1/anomalies", since=third) == opened.ids(3, 2)
    assert await ids_of(get, "/v1/anomalies", since=plus_seconds(third, 0.000001)) == (
        opened.ids(3)
    )
    same_instant = instant(third).astimezone(timezone(timedelta(hours=2))).isoformat()
    assert same_instant.endswith("+02:00")
    assert await ids_of(get, "/v1/anomalies", since=same_instant) == opened.ids(3, 2)
    assert await ids_of(get, anomalies_path("alpha"), since=third) == opened.ids(2)
    later = plus_seconds(opened.episodes[3]["opened_at"], 1)
    assert await ids_of(get, "/v1/anomalies", since=later) == []
    # Half a microsecond after it (nanoseconds are RFC 3339 too) is after it, not at it.
    assert await ids_of(get, "/v1/anomalies", since=third[:-1] + "500Z") == opened.ids(3)
    assert await ids_of(get, "/v1/anomalies", since=third[:-1] + "000Z") == opened.ids(3, 2)


async def test_signals_bounds_between_microseconds_round_up(opened: Opened) -> None:
    """`since` inclusive and `until` exclusive hold for bounds finer than the microseconds that
    received_at is kept in: half a microsecond after a record excludes it from `since` and
    includes it in `until`."""
    page = await opened.ingest.get("/v1/signals", params={"user_id": "beta", "limit": "1"})
    [record] = page.json()["items"]
    at, half_after = record["received_at"], record["received_at"][:-1] + "500Z"

    async def count(**bounds: str) -> int:
        params = {"user_id": "beta", "limit": "1000", **bounds}
        response = await opened.ingest.get("/v1/signals", params=params)
        return len([r for r in response.json()["items"] if r["received_at"] == at])

    assert await count(since=at) == await count(until=half_after) > 0
    assert await count(since=half_after) == 0
    assert await count(until=at) == 0


async def walk(client: httpx.AsyncClient, path: str, **params: str) -> list[str]:
    """Follow next_cursor with limit=1 until it is null; every page holds one item."""
    seen: list[str] = []
    query: dict[str, str] = {**params, "limit": "1"}
    for _ in range(20):
        response = await client.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) == 1
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            return seen
        query["cursor"] = page["next_cursor"]
    raise AssertionError(f"pagination did not end: {seen}")


async def test_a_limit_1_walk_visits_every_episode_once_in_order(opened: Opened) -> None:
    get = opened.integrity
    assert await walk(get, "/v1/anomalies") == opened.ids(3, 2, 1, 0)
    assert await walk(get, "/v1/anomalies", severity="critical") == opened.ids(2, 1)
    assert await walk(get, anomalies_path("alpha")) == opened.ids(2, 0)
    since = opened.episodes[1]["opened_at"]
    assert await walk(get, "/v1/anomalies", since=since) == opened.ids(3, 2, 1)
    response = await get.get("/v1/anomalies", params={"limit": "2"})
    page = response.json()
    assert [item["id"] for item in page["items"]] == opened.ids(3, 2)
    rest = await get.get("/v1/anomalies", params={"limit": "2", "cursor": page["next_cursor"]})
    assert [item["id"] for item in rest.json()["items"]] == opened.ids(1, 0)
    assert rest.json()["next_cursor"] is None


BAD_QUERIES: list[tuple[dict[str, str], list[str]]] = [
    ({"severity": "fatal"}, ["severity"]),
    ({"severity": "WARNING"}, ["severity"]),
    ({"signal_type": "Not A Type!"}, ["signal_type"]),
    ({"since": "yesterday"}, ["since"]),
    ({"since": "2025-01-01T00:00:00"}, ["since"]),  # no offset
    ({"limit": "0"}, ["limit"]),
    ({"limit": "1001"}, ["limit"]),
    ({"limit": "ten"}, ["limit"]),
    ({"limit": "-1"}, ["limit"]),
    ({"cursor": "not-a-cursor"}, ["cursor"]),
    ({"user_id": "alpha"}, ["user_id"]),  # not a filter here: the path names the user
    ({"severity": "fatal", "limit": "0", "bogus": "1"}, ["severity", "limit", "bogus"]),
    ({"cursor": "q", "limit": "0"}, ["limit", "cursor"]),  # a bad cursor is not left for later
]


def assert_refused(response: httpx.Response, loc: list[Any]) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"error", "request_id"}
    assert body["error"]["code"] == "validation_failed"
    assert body["request_id"] == response.headers["x-request-id"]
    assert loc in [detail["loc"] for detail in body["error"]["details"]], body


@pytest.mark.parametrize(("params", "names"), BAD_QUERIES)
async def test_bad_query_parameters_are_named(
    opened: Opened, params: dict[str, str], names: list[str]
) -> None:
    for path in ("/v1/anomalies", anomalies_path("alpha")):
        response = await opened.integrity.get(path, params=params)
        for name in names:
            assert_refused(response, ["query", name])
        assert len(response.json()["error"]["details"]) == len(names)


async def test_a_cursor_of_another_listing_is_refused(opened: Opened) -> None:
    signals = await opened.ingest.get("/v1/signals", params={"limit": "1"})
    cursor = signals.json()["next_cursor"]
    assert cursor
    response = await opened.integrity.get("/v1/anomalies", params={"cursor": cursor})
    assert_refused(response, ["query", "cursor"])


async def test_a_bad_user_id_in_the_path_is_named(opened: Opened) -> None:
    for user in ("x" * 129, "bell\x07", "line\nbreak", "cr\rlf\n"):
        response = await opened.integrity.get(anomalies_path(user))
        assert_refused(response, ["path", "user_id"])


async def test_a_bad_user_id_is_named_with_the_query_problems(opened: Opened) -> None:
    response = await opened.integrity.get(anomalies_path("x" * 129), params={"limit": "0"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["message"] == "invalid path and query parameters"
    assert error["details"] == [
        {"loc": ["path", "user_id"], "msg": "Expected `str` of length <= 128"},
        {"loc": ["query", "limit"], "msg": "must be an integer from 1 to 1000"},
    ]


async def test_every_listing_names_a_bad_cursor_with_the_other_problems(opened: Opened) -> None:
    for client, path in (
        (opened.integrity, "/v1/anomalies"),
        (opened.integrity, "/v1/alerts"),
        (opened.ingest, "/v1/signals"),
    ):
        response = await client.get(path, params={"cursor": "s00", "limit": "0"})
        assert response.status_code == 422
        assert response.json()["error"]["details"] == [
            {"loc": ["query", "limit"], "msg": "must be an integer from 1 to 1000"},
            {"loc": ["query", "cursor"], "msg": "not a cursor"},
        ]


async def test_bad_alert_query_parameters_are_named(opened: Opened) -> None:
    for params, name in (
        ({"status": "lost"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "zzz"}, "cursor"),
        ({"severity": "critical"}, "severity"),
    ):
        response = await opened.integrity.get("/v1/alerts", params=params)
        assert_refused(response, ["query", name])


async def test_a_parameter_given_twice_is_refused_on_every_listing(opened: Opened) -> None:
    for client, path in (
        (opened.integrity, "/v1/anomalies"),
        (opened.integrity, "/v1/alerts"),
        (opened.ingest, "/v1/signals"),
    ):
        response = await client.get(f"{path}?limit=abc&limit=5")
        assert_refused(response, ["query", "limit"])
        assert {"loc": ["query", "limit"], "msg": "given more than once"} in (
            response.json()["error"]["details"]
        )
