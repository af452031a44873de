"""`anomaly.resolved`: one signed webhook when an alerted episode closes (`alerts.send_resolved`).

Through the real service and a real receiver, verified by the `standardwebhooks` package; then
the close decided again after a crash (before its batch was stored) and after restarts, on a
real SQLite store: one resolved delivery, whatever happens.
"""

from __future__ import annotations

import base64
import itertools
import os
import time
from pathlib import Path

import httpx
from standardwebhooks.webhooks import Webhook
from tests.conftest import live_service, settings_for
from tests.integrity.detection.receiver import Receiver
from tests.integrity.detection.support import Json, batch, episodes_of, event, eventually, stored
from tests.integrity.detection.test_webhooks import alert_env, deliveries, settled

from signals.events import Record
from signals.instants import MICROS_PER_SECOND, from_us
from signals.integrity.alerts.dispatcher import AlertDispatcher
from signals.integrity.detection import Detected, Detection
from signals.integrity.windows.memory import MemoryWindows
from signals.metrics import Metrics
from signals.settings import Settings
from signals.store.base import AlertQuery, Batch
from signals.store.sqlite.store import SqliteStore

THRESHOLD = "4"  # 5 events in a window: warning; 6: critical
_ids = itertools.count()


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def resolved_env(
    receiver: Receiver, secret: str, window: str, send: str = "true"
) -> dict[str, str]:
    env = alert_env(receiver, secret, "critical", ALERTS__SEND_RESOLVED=send)
    return {**env, "THRESHOLDS__DEFAULT": THRESHOLD, "WINDOWS__SECONDS": window}


async def closed(integrity: httpx.AsyncClient, user: str) -> Json:
    """`user`'s one episode, once it has closed."""

    async def check() -> Json | None:
        [episode] = await episodes_of(integrity, user)
        return episode if episode["closed_at"] else None

    return await eventually(check, within=15.0)


async def test_an_alerted_episode_that_closes_sends_one_signed_resolved_webhook(
    tmp_path: Path, windows_env: dict[str, str]
) -> None:
    secret = new_secret()
    # Every webhook-id is refused once: the resolved one is retried like any other.
    async with Receiver(fail_first=1) as receiver:
        settings = settings_for(tmp_path, **resolved_env(receiver, secret, "1.0"), **windows_env)
        async with live_service(settings) as live:
            paged = await batch(live.ingest, [event("paged") for _ in range(6)])  # critical
            unpaged = await batch(live.ingest, [event("unpaged") for _ in range(5)])  # warning
            await stored(live.ingest, paged + unpaged)
            # Nothing more arrives: the idle tick closes both a window after their last event.
            episode = await closed(live.integrity, "paged")
            quiet = await closed(live.integrity, "unpaged")
            sent = await settled(live.integrity, 2)
            # The dashboard's one source, on its own port: the same deliveries, attempts included.
            stats = await live.ingest.get("/v1/stats", params={"range": "15m"})
            assert stats.json()["recent_deliveries"] == sent

    assert episode["alerted"] == ["critical"]
    assert quiet["alerted"] == []  # below min_severity: never alerted, so never resolved
    resolved_id = f"msg_{episode['id']}_resolved"
    assert {(item["id"], item["type"]) for item in sent} == {
        (f"msg_{episode['id']}_critical", "anomaly.critical"),
        (resolved_id, "anomaly.resolved"),
    }
    assert {item["episode_id"] for item in sent} == {episode["id"]}
    for item in sent:
        assert [attempt["status_code"] for attempt in item["attempts"]] == [500, 204]

    hooks = [hook for hook in receiver.received if hook.webhook_id == resolved_id]
    assert len(hooks) == 2  # refused, then accepted: the same bytes both times
    assert hooks[0].body == hooks[1].body
    for hook in receiver.received:
        Webhook(secret).verify(hook.body, hook.headers)
    body = hooks[-1].json()
    assert set(body) == {"type", "episode", "sent_at"}
    assert body["type"] == "anomaly.resolved"
    assert body["episode"] == episode  # closed, as stored: closed_at, final severity, alerted
    assert body["episode"]["closed_at"] is not None
    assert len(receiver.received) == 4


async def test_with_send_resolved_off_a_close_sends_nothing(tmp_path: Path) -> None:
    secret = new_secret()
    async with Receiver() as receiver:
        env = resolved_env(receiver, secret, "1.0", send="false")
        async with live_service(settings_for(tmp_path, **env)) as live:
            await stored(live.ingest, await batch(live.ingest, [event("off") for _ in range(6)]))
            episode = await closed(live.integrity, "off")
            # The close and any delivery it raised are stored in one transaction.
            [item] = await deliveries(live.integrity)
            await settled(live.integrity, 1)
    assert episode["alerted"] == ["critical"]
    assert item["type"] == "anomaly.critical"
    assert [hook.webhook_id for hook in receiver.received] == [item["id"]]


async def test_an_episode_open_at_a_restart_is_resolved_once_after_it(tmp_path: Path) -> None:
    secret = new_secret()
    async with Receiver() as receiver:
        settings = settings_for(tmp_path, **resolved_env(receiver, secret, "5.0"))
        async with live_service(settings) as live:
            await stored(live.ingest, await batch(live.ingest, [event("kept") for _ in range(6)]))
            [opened] = await episodes_of(live.integrity, "kept")
        assert opened["closed_at"] is None  # still open when the service stopped
        async with live_service(settings) as live:  # restores it; its tick closes it
            episode = await closed(live.integrity, "kept")
            sent = await settled(live.integrity, 2)
        async with live_service(settings) as live:  # a closed episode is not restored
            assert await deliveries(live.integrity) == sent
    assert episode["id"] == opened["id"]
    assert sorted(item["type"] for item in sent) == ["anomaly.critical", "anomaly.resolved"]
    assert sorted(hook.webhook_id for hook in receiver.received) == sorted(i["id"] for i in sent)


def record(at_us: int, user_id: str = "crashy") -> Record:
    n = next(_ids)
    return Record(
        event_id=f"ev-{n}", user_id=user_id, signal_type="chat", received_at=from_us(at_us),
        sentiment="neutral", sentiment_cues=[], request_id=f"req-{n}",
    )  # fmt: skip


def detection(settings: Settings, store: SqliteStore) -> Detection:
    """A new process's detection on `store`: nothing in memory, its dispatcher not started."""
    metrics = Metrics()
    return Detection(
        settings=settings, store=store, windows=MemoryWindows(settings.windows),
        dispatcher=AlertDispatcher(store, settings.alerts, metrics), metrics=metrics,
    )  # fmt: skip


async def save(store: SqliteStore, detected: Detected, records: list[Record]) -> None:
    batch = Batch(records=records, episodes=detected.episodes, deliveries=detected.deliveries)
    await store.apply(batch)


async def test_a_close_decided_again_after_a_crash_is_one_delivery(tmp_path: Path) -> None:
    env = {"WEBHOOK_URL": "http://127.0.0.1:9/hooks", "SECRET": new_secret()}
    settings = settings_for(
        tmp_path, THRESHOLDS__DEFAULT=THRESHOLD, **{f"ALERTS__{k}": v for k, v in env.items()}
    )
    start_us = time.time_ns() // 1000
    records = [record(start_us + n * 1000) for n in range(6)]
    after_window = (start_us + 60 * MICROS_PER_SECOND) / MICROS_PER_SECOND
    async with await SqliteStore.open(tmp_path / "signals.db") as store:
        first = detection(settings, store)
        opened = await first.detect(records)
        assert [d.type for d in opened.deliveries] == ["anomaly.critical"]
        await save(store, opened, records)

        # A second life closes the episode, and crashes before its batch is stored.
        second = detection(settings, store)
        await second.restore()
        lost = await second.tick(after_window)
        # A third life decides the same close again, and stores it; the lost batch comes late.
        third = detection(settings, store)
        await third.restore()
        again = await third.tick(after_window + 1)
        await save(store, again, [])
        await save(store, lost, [])

        fourth = detection(settings, store)
        await fourth.restore()
        assert len(fourth.tracker) == 0
        assert (await fourth.tick(after_window + 2)).deliveries == []
        page = await store.deliveries(AlertQuery())

    [resolved] = lost.deliveries
    assert [d.id for d in again.deliveries] == [resolved.id]
    assert resolved.id == f"msg_{opened.episodes[0].id}_resolved"
    assert sorted((d.id, d.type) for d in page.items) == sorted(
        [(opened.deliveries[0].id, "anomaly.critical"), (resolved.id, "anomaly.resolved")]
    )
