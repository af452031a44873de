"""Thresholds through HTTP: T, T+1 and ceil(1.5 T) events, per-type thresholds, many users.

Each test runs the real service (both ports on real sockets) over memory and Redis windows. A
long window (10 s) keeps every burst inside one window however loaded the machine is; closing is
`test_closing.py`'s business.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from tests.conftest import live_service, settings_for
from tests.integrity.detection.support import (
    all_episodes,
    anomalies_path,
    batch,
    episodes_of,
    event,
    log,
    stored,
)

LONG_WINDOW = "10.0"


async def test_t_events_are_quiet_then_one_episode_opens_and_escalates(
    tmp_path: Path, windows_env: dict[str, str]
) -> None:
    # T = 5: 5 quiet, 6 (T + 1) warning, 7 still warning, 8 = ceil(7.5) critical.
    settings = settings_for(
        tmp_path, THRESHOLDS__DEFAULT="5", WINDOWS__SECONDS=LONG_WINDOW, **windows_env
    )
    user = "boundary-user"
    async with live_service(settings) as live:
        quiet = await batch(live.ingest, [event(user) for _ in range(5)])
        await stored(live.ingest, quiet, user)
        assert await episodes_of(live.integrity, user) == []

        sixth = await log(live.ingest, user)
        await stored(live.ingest, [sixth["event_id"]], user)
        [opened] = await episodes_of(live.integrity, user)
        assert opened["severity"] == "warning"
        assert (opened["peak_count"], opened["event_count"]) == (6, 1)
        assert opened["sample_event_ids"] == [sixth["event_id"]]
        assert opened["opened_at"] == opened["last_seen_at"] == sixth["received_at"]
        assert opened["closed_at"] is None
        assert opened["threshold"] == 5
        assert opened["window_seconds"] == 10.0
        assert opened["alerted"] == []  # no webhook configured

        # The seventh arrives on the integrity port: the same pipeline, the same episode.
        seventh = await live.integrity.post("/v1/events", json=event(user))
        assert seventh.status_code == 202, seventh.text
        await stored(live.ingest, [seventh.json()["event_id"]], user)
        [still] = await episodes_of(live.integrity, user)
        assert still["id"] == opened["id"]
        assert (still["severity"], still["peak_count"], still["event_count"]) == ("warning", 7, 2)

        eighth = await log(live.ingest, user)
        await stored(live.ingest, [eighth["event_id"]], user)
        [escalated] = await episodes_of(live.integrity, user)
        assert escalated["id"] == opened["id"]
        assert (escalated["severity"], escalated["peak_count"]) == ("critical", 8)
        assert escalated["event_count"] == 3
        assert escalated["opened_at"] == sixth["received_at"]
        assert escalated["last_seen_at"] == eighth["received_at"]

        # Ten more, as an array on the integrity port: still one episode, samples capped at 10.
        more = await batch(live.integrity, [event(user) for _ in range(10)], "/v1/events")
        await stored(live.ingest, more, user)
        [final] = await episodes_of(live.integrity, user)
        assert final["id"] == opened["id"]
        assert (final["severity"], final["peak_count"], final["event_count"]) == (
            "critical",
            18,
            13,
        )
        expected_samples = [sixth["event_id"], seventh.json()["event_id"], eighth["event_id"]]
        assert final["sample_event_ids"] == expected_samples + more[:7]
        assert final["closed_at"] is None
        assert len(await all_episodes(live.integrity)) == 1


async def test_a_type_with_its_own_threshold_uses_it(
    tmp_path: Path, windows_env: dict[str, str]
) -> None:
    settings = settings_for(
        tmp_path, THRESHOLDS__DEFAULT="6", THRESHOLDS__LOGIN="3", WINDOWS__SECONDS=LONG_WINDOW,
        **windows_env,
    )  # fmt: skip
    user = "typed-user"
    async with live_service(settings) as live:
        # Interleaved: 4 logins (over 3) and 4 chats (not over 6) for the same user.
        ids = await batch(live.ingest, [event(user, kind) for _ in range(4)
                                        for kind in ("login", "chat")])  # fmt: skip
        await stored(live.ingest, ids, user)
        [login] = await episodes_of(live.integrity, user)
        assert (login["signal_type"], login["threshold"]) == ("login", 3)
        assert (login["severity"], login["peak_count"]) == ("warning", 4)
        assert await episodes_of(live.integrity, user, signal_type="chat") == []

        # 5 >= 1.5 * 3: critical for login, while chat needs 7 to open at all.
        fifth = await log(live.ingest, user, "login")
        chats = await batch(live.ingest, [event(user, "chat") for _ in range(3)])
        await stored(live.ingest, [fifth["event_id"], *chats], user)
        [login] = await episodes_of(live.integrity, user, signal_type="login")
        assert (login["severity"], login["peak_count"]) == ("critical", 5)
        [chat] = await episodes_of(live.integrity, user, signal_type="chat")
        assert (chat["threshold"], chat["severity"], chat["peak_count"]) == (6, "warning", 7)


async def test_many_users_at_once_only_the_bursting_ones_get_episodes(
    tmp_path: Path, windows_env: dict[str, str]
) -> None:
    threshold = 3
    settings = settings_for(
        tmp_path, THRESHOLDS__DEFAULT=str(threshold), WINDOWS__SECONDS=LONG_WINDOW, **windows_env
    )
    users = [f"crowd-{n:02d}" for n in range(50)]
    bursting = set(users[::10])  # 5 of 50
    events = [event(user) for user in users for _ in range(threshold)]
    events += [event(user) for user in sorted(bursting)]  # T + 1 for the bursting ones
    random.Random(3).shuffle(events)
    chunks = [events[start : start + 20] for start in range(0, len(events), 20)]
    async with live_service(settings) as live:
        # Concurrent batches on both ports, so records of one key arrive in separate batches.
        clients = [live.ingest, live.integrity]
        paths = ["/v1/log/batch", "/v1/events"]
        sent = await asyncio.gather(*(
            batch(clients[n % 2], chunk, paths[n % 2]) for n, chunk in enumerate(chunks)
        ))  # fmt: skip
        await stored(live.ingest, [event_id for ids in sent for event_id in ids])
        found = await all_episodes(live.integrity)
        assert sorted(item["user_id"] for item in found) == sorted(bursting)
        for item in found:
            assert (item["severity"], item["peak_count"], item["event_count"]) == (
                "warning", threshold + 1, 1,
            )  # fmt: skip
        quiet = next(user for user in users if user not in bursting)
        response = await live.integrity.get(anomalies_path(quiet))
        assert response.status_code == 200
        assert response.json() == {"items": [], "next_cursor": None}


async def test_a_user_with_no_episodes_gets_an_empty_page(tmp_path: Path) -> None:
    async with live_service(settings_for(tmp_path)) as live:
        response = await live.integrity.get(anomalies_path("never-seen"))
        assert response.status_code == 200
        assert response.json() == {"items": [], "next_cursor": None}
        assert response.headers["x-request-id"]


# Path-hostile ids, and look-alikes of each other that must never share a window or a history.
AWKWARD_USERS = [
    "org:team:alice",
    "org:team",
    "alice smith",
    "a/b/c",
    "a/b",
    "/leading/and/trailing/",
    "ünïcødé 用户 🙂",
    "50% off?#frag&x=1+2",
    "a/../b",
]


async def test_awkward_user_ids_are_found_by_their_encoded_path(
    tmp_path: Path, windows_env: dict[str, str]
) -> None:
    settings = settings_for(
        tmp_path, THRESHOLDS__DEFAULT="2", WINDOWS__SECONDS=LONG_WINDOW, **windows_env
    )
    # Each user bursts to a count of its own (3 + its index), so no two histories look alike.
    events = [event(user) for n, user in enumerate(AWKWARD_USERS) for _ in range(3 + n)]
    async with live_service(settings) as live:
        ids = await batch(live.ingest, events)
        await stored(live.ingest, ids)
        for n, user in enumerate(AWKWARD_USERS):
            [episode] = await episodes_of(live.integrity, user)
            assert episode["user_id"] == user
            assert episode["peak_count"] == 3 + n
        assert len(await all_episodes(live.integrity)) == len(AWKWARD_USERS)
