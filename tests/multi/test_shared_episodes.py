"""Two detections (as two instances run them) sharing one Redis: one episode per burst, each
severity reached once, whichever instance sees which event, in whatever order they race."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import msgspec
import redis.asyncio
from structlog.testing import capture_logs
from tests.support.redis_server import free_port

from signals.events import Record
from signals.instants import MICROS_PER_SECOND, from_us
from signals.integrity.alerts.dispatcher import AlertDispatcher
from signals.integrity.detection import Detected, Detection
from signals.integrity.episodes.redis_state import SharedEpisodes
from signals.integrity.windows.factory import open_windows
from signals.integrity.windows.memory import MemoryWindows
from signals.metrics import Metrics
from signals.records.delivery import Delivery
from signals.records.episode import Episode
from signals.redis_client import open_redis
from signals.runtime import build_detection
from signals.settings import Settings, load
from signals.store.sqlite.store import SqliteStore

THRESHOLD = 4  # 5 events in a window: warning; 6: critical
_ids = itertools.count()


def settings_for(path: Path, redis_url: str, prefix: str, window: float = 5.0) -> Settings:
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    return load(
        None,
        {
            "SIGNALS__DATA_DIR": str(path),
            "SIGNALS__WINDOWS__BACKEND": "redis",
            "SIGNALS__WINDOWS__SECONDS": str(window),
            "SIGNALS__REDIS__URL": redis_url,
            "SIGNALS__REDIS__KEY_PREFIX": prefix,
            "SIGNALS__THRESHOLDS__DEFAULT": str(THRESHOLD),
            "SIGNALS__ALERTS__WEBHOOK_URL": "http://127.0.0.1:9/hooks",
            "SIGNALS__ALERTS__SECRET": secret,
            "SIGNALS__ALERTS__MIN_SEVERITY": "warning",
        },
    )


@contextlib.asynccontextmanager
async def instance(settings: Settings, name: str) -> AsyncIterator[Detection]:
    """The detection `signals serve` builds (Redis windows, shared episodes), its dispatcher not
    started: these tests call `detect` and `tick` as the consumer would, and send no webhooks."""
    metrics = Metrics()
    client = await open_redis(settings.redis)
    windows = await open_windows(settings, metrics, client)
    try:
        async with await SqliteStore.open(settings.data_path / name / "signals.db") as store:
            dispatcher = AlertDispatcher(store, settings.alerts, metrics)
            detection = build_detection(
                settings, store, windows, dispatcher, metrics, redis_client=client
            )
            await detection.restore()
            yield detection
    finally:
        await windows.aclose()
        await client.aclose()


class Clock:
    """Event times from a base near now (Redis expires idle keys in real time)."""

    def __init__(self) -> None:
        self.base_us = time.time_ns() // 1000

    def at(self, seconds: float) -> str:
        return from_us(self.base_us + round(seconds * MICROS_PER_SECOND))

    def now(self, seconds: float) -> float:
        return (self.base_us + round(seconds * MICROS_PER_SECOND)) / MICROS_PER_SECOND


def record(received_at: str, user_id: str = "split-user") -> Record:
    n = next(_ids)
    return Record(
        event_id=f"ev-{n}", user_id=user_id, signal_type="chat", received_at=received_at,
        sentiment="neutral", sentiment_cues=[], request_id=f"req-{n}",
    )  # fmt: skip


def ids(analyses: Sequence[Detected]) -> set[str]:
    return {episode.id for analysis in analyses for episode in analysis.episodes}


def deliveries(analyses: Sequence[Detected]) -> list[Delivery]:
    return [delivery for analysis in analyses for delivery in analysis.deliveries]


def resolved(analysis: Detected) -> list[str]:
    return [d.id for d in analysis.deliveries if d.type == "anomaly.resolved"]


async def shared_state(settings: Settings, user_id: str = "split-user") -> Episode | None:
    client = redis.asyncio.from_url(settings.redis.url)
    try:
        shared = SharedEpisodes(client, settings.redis.key_prefix, settings.windows.seconds, 60)
        [state] = await shared.load([(user_id, "chat")])
    finally:
        await client.aclose()
    return state.episode


async def test_a_burst_alternating_between_instances_is_one_episode(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    settings = settings_for(tmp_path, redis_url, prefix)
    clock = Clock()
    async with instance(settings, "a") as a, instance(settings, "b") as b:
        analyses = [await (a, b)[n % 2].detect([record(clock.at(n * 0.01))]) for n in range(10)]
    assert [len(x.episodes) for x in analyses] == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    assert len(ids(analyses)) == 1
    alerts = deliveries(analyses)
    assert sorted(d.type for d in alerts) == ["anomaly.critical", "anomaly.warning"]
    assert {d.episode_id for d in alerts} == ids(analyses)
    final = analyses[-1].episodes[0]
    assert (final.severity, final.event_count, final.peak_count) == ("critical", 6, 10)
    assert final.opened_at == clock.at(0.04)
    assert final.alerted == ["warning", "critical"]
    assert await shared_state(settings) == final


async def test_racing_instances_still_reach_each_severity_once(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    settings = settings_for(tmp_path, redis_url, prefix, window=30.0)
    clock = Clock()
    times = iter(range(1000))

    async def feed(detection: Detection) -> list[Detected]:
        return [await detection.detect([record(clock.at(next(times) * 0.001))]) for _ in range(20)]

    async with instance(settings, "a") as a, instance(settings, "b") as b:
        runs = await asyncio.gather(feed(a), feed(b))
    analyses = [*runs[0], *runs[1]]
    assert len(ids(analyses)) == 1
    # Each severity at most once; warning may be skipped: when the step that counted 6 wins the
    # race against the one that counted 5, the episode opens at critical.
    types = [d.type for d in deliveries(analyses)]
    assert sorted(types) in (["anomaly.critical", "anomaly.warning"], ["anomaly.critical"])
    final = await shared_state(settings)
    assert final is not None
    assert (final.event_count, final.peak_count) == (40 - THRESHOLD, 40)
    assert final.closed_at is None


async def test_a_close_seen_by_one_instance_ends_the_episode_on_the_other(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    settings = settings_for(tmp_path, redis_url, prefix)
    clock = Clock()
    async with instance(settings, "a") as a, instance(settings, "b") as b:
        for n in range(5):  # counts 1..5 on A: opened at warning
            await a.detect([record(clock.at(n * 0.01))])
        late = await a.detect([record(clock.at(4.9))])  # 6: critical, last seen at 4.9
        [episode] = late.episodes
        # On B, 5.5 s in: the first five left the window, 2 <= 4: B closes A's episode.
        closing = await b.detect([record(clock.at(5.5))])
        assert [(e.id, e.closed_at) for e in closing.episodes] == [(episode.id, clock.at(5.5))]
        # B decided the close, so B alone queues its `anomaly.resolved`.
        assert resolved(closing) == [f"msg_{episode.id}_resolved"]
        # A's copy is not closed a second time; A's next burst is a new episode.
        quiet = await a.detect([record(clock.at(5.6))])
        assert quiet.episodes == []
        assert quiet.deliveries == []
        burst = [await a.detect([record(clock.at(5.7 + n * 0.01))]) for n in range(3)]
    [reopened] = burst[-1].episodes
    assert reopened.id != episode.id
    assert await open_keys(settings) == {episode_key(settings)}
    assert reopened.opened_at == clock.at(5.71)  # 4.9, 5.5, 5.6, 5.7, 5.71: five


async def test_a_sweep_adopts_what_another_instance_saw_before_closing(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    settings = settings_for(tmp_path, redis_url, prefix)
    clock = Clock()
    async with instance(settings, "a") as a, instance(settings, "b") as b:
        for n in range(5):
            await a.detect([record(clock.at(n * 0.01))])
        for n in range(3):  # B carries the burst on to 4.5 s
            await b.detect([record(clock.at(4.3 + n * 0.1))])
        # A's own copy (last seen 0.04) is a window old at 5.2; the shared one is not.
        assert (await a.tick(clock.now(5.2))).episodes == []
        swept = await a.tick(clock.now(9.6))
        [closed] = swept.episodes
        assert closed.closed_at == clock.at(9.5)  # a window after the last event, seen on B
        assert closed.event_count == 4
        assert resolved(swept) == [f"msg_{closed.id}_resolved"]
        # B's copy is dropped, not closed again, and not resolved again.
        assert (await b.tick(clock.now(9.7))) == Detected([], [])
        assert len(b.tracker) == 0
    final = await shared_state(settings)
    assert final is not None
    assert final.closed_at == clock.at(9.5)
    assert await open_keys(settings) == set()


async def test_instances_sweeping_at_once_resolve_an_episode_once(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    settings = settings_for(tmp_path, redis_url, prefix)
    clock = Clock()
    async with instance(settings, "a") as a, instance(settings, "b") as b:
        for n in range(6):  # both hold the episode: each took three of its events
            await (a, b)[n % 2].detect([record(clock.at(n * 0.01))])
        assert len(a.tracker) == len(b.tracker) == 1
        sweeps = await asyncio.gather(
            *(d.tick(clock.now(5.1 + n)) for n in range(3) for d in (a, b))
        )
    [episode_id] = ids(sweeps)
    assert [d.id for d in deliveries(sweeps)] == [f"msg_{episode_id}_resolved"]
    assert len(a.tracker) == len(b.tracker) == 0


async def test_a_local_episode_redis_never_knew_gives_way_to_the_shared_one(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    settings = settings_for(tmp_path, redis_url, prefix)
    clock = Clock()
    async with instance(settings, "a") as a, instance(settings, "b") as b:
        # A's own episode, as one opened while Redis was lost (or restored from the store).
        local = Episode(
            id="ep-local", user_id="split-user", signal_type="chat", severity="warning",
            threshold=THRESHOLD, window_seconds=5.0, peak_count=5, event_count=1,
            opened_at=clock.at(0.01), last_seen_at=clock.at(0.03),
        )  # fmt: skip
        a.tracker.put(("split-user", "chat"), local)
        opened = [await b.detect([record(clock.at(n * 0.01))]) for n in range(5)]
        [shared] = opened[-1].episodes
        step = await a.detect([record(clock.at(0.1))])
    assert [(e.id, e.closed_at) for e in step.episodes] == [
        ("ep-local", clock.at(0.03)),
        (shared.id, None),
    ]
    assert a.tracker.get(("split-user", "chat")) == step.episodes[1]


async def test_an_unreadable_shared_value_is_replaced(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    settings = settings_for(tmp_path, redis_url, prefix)
    client = redis.asyncio.from_url(redis_url)
    try:
        shared = SharedEpisodes(client, prefix, 5.0, 60)
        await client.set(shared.key(("split-user", "chat")), b"not an episode")
    finally:
        await client.aclose()
    clock = Clock()
    async with instance(settings, "a") as a:
        analyses = [await a.detect([record(clock.at(n * 0.01))]) for n in range(5)]
    [opened] = analyses[-1].episodes
    assert await shared_state(settings) == opened


async def test_without_redis_a_step_runs_on_local_episodes(tmp_path: Path) -> None:
    dead = redis.asyncio.from_url(
        f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5, socket_timeout=0.5
    )
    settings = settings_for(tmp_path, "redis://unused", "unused")
    metrics = Metrics()
    try:
        async with await SqliteStore.open(tmp_path / "signals.db") as store:
            detection = Detection(
                settings=settings,
                store=store,
                windows=MemoryWindows(settings.windows),
                dispatcher=AlertDispatcher(store, settings.alerts, metrics),
                metrics=metrics,
                shared=SharedEpisodes(dead, "x", 5.0, 60),
            )
            clock = Clock()
            with capture_logs() as logs:
                analyses = [await detection.detect([record(clock.at(n * 0.01))]) for n in range(7)]
                swept = await detection.tick(clock.now(60))
    finally:
        await dead.aclose()
    assert len(ids(analyses)) == 1
    assert [t.type for t in deliveries(analyses)] == ["anomaly.warning", "anomaly.critical"]
    assert [e.closed_at for e in swept.episodes] == [clock.at(5.06)]
    warnings = [log for log in logs if log["log_level"] == "warning"]
    assert [log["event"] for log in warnings] == [
        "shared episodes unavailable; using this instance's own until redis answers"
    ]


async def open_keys(settings: Settings) -> set[bytes]:
    client = redis.asyncio.from_url(settings.redis.url)
    try:
        return await SharedEpisodes(client, settings.redis.key_prefix, 5.0, 60).open_keys()
    finally:
        await client.aclose()


def episode_key(settings: Settings) -> bytes:
    return f"{settings.redis.key_prefix}:ep:10:split-user:chat".encode()


def test_an_older_episode_put_into_a_tracker_is_swept_first() -> None:
    from signals.integrity.episodes.tracker import EpisodeTracker  # noqa: PLC0415

    tracker = EpisodeTracker(5.0, lambda _: THRESHOLD, lambda: "new")
    clock = Clock()

    def episode(user: str, last_seen: float) -> Episode:
        return Episode(
            id=f"ep-{user}", user_id=user, signal_type="chat", severity="warning",
            threshold=THRESHOLD, window_seconds=5.0, peak_count=5, event_count=1,
            opened_at=clock.at(0), last_seen_at=clock.at(last_seen),
        )  # fmt: skip

    tracker.put(("new", "chat"), episode("new", 4))
    tracker.put(("old", "chat"), episode("old", 1))
    assert tracker.get(("old", "chat")) == episode("old", 1)
    assert tracker.stale(clock.now(6)) == [("old", "chat")]
    assert [t.episode.id for t in tracker.sweep(clock.now(6))] == ["ep-old"]
    tracker.put(("new", "chat"), msgspec.structs.replace(episode("new", 4), closed_at=clock.at(5)))
    assert tracker.get(("new", "chat")) is None
    assert len(tracker) == 0


def test_a_quiet_event_counted_before_the_episode_opened_does_not_close_it() -> None:
    """Instance A counts an event (3), instance B counts two more and opens the episode, then A's
    step for its event runs on the shared episode: that quiet count is older news."""
    from signals.integrity.episodes.tracker import EpisodeTracker  # noqa: PLC0415

    tracker = EpisodeTracker(5.0, lambda _: THRESHOLD, lambda: "new")
    clock = Clock()
    opened = Episode(
        id="ep-b", user_id="u", signal_type="chat", severity="warning", threshold=THRESHOLD,
        window_seconds=5.0, peak_count=5, event_count=1, opened_at=clock.at(0.05),
        last_seen_at=clock.at(0.05),
    )  # fmt: skip
    tracker.put(("u", "chat"), opened)
    late = tracker.observe(
        "u", "chat", event_id="e3", at=clock.now(0.03), received_at=clock.at(0.03), count=3
    )
    assert late == []
    assert tracker.get(("u", "chat")) == opened
    quiet = tracker.observe(
        "u", "chat", event_id="e9", at=clock.now(0.09), received_at=clock.at(0.09), count=3
    )
    assert [(t.kind, t.episode.closed_at) for t in quiet] == [("closed", clock.at(0.09))]
