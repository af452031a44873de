"""The dispatcher against a real SQLite outbox and a real HTTP receiver on a free port."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook
from structlog.testing import capture_logs
from tests.integrity.alerts.alerts_support import (
    all_deliveries,
    delivery,
    eventually,
    make_episode,
    settled,
)
from tests.integrity.alerts.webhook_receiver import WebhookReceiver, free_port

from signals.instants import from_us
from signals.integrity.alerts.dispatcher import AlertDispatcher
from signals.integrity.alerts.outbox import delivery_for
from signals.metrics import Metrics
from signals.records.delivery import Delivery
from signals.secret import Secret
from signals.settings import AlertsSettings
from signals.store.base import Batch
from signals.store.sqlite.store import SqliteStore


def settings(url: str, secret: str, **overrides: Any) -> AlertsSettings:
    values: dict[str, Any] = {"max_attempts": 5, "timeout_seconds": 5.0}
    values.update(overrides)
    return AlertsSettings(webhook_url=url, secret=Secret(secret), min_severity="warning", **values)


def dispatcher(
    store: SqliteStore, alerts: AlertsSettings, metrics: Metrics, **kw: Any
) -> AlertDispatcher:
    # A long poll, so that every delivery below is driven by wake() or by the retry timer.
    options: dict[str, Any] = {"base_backoff_seconds": 0.05, "poll_seconds": 60.0}
    options.update(kw)
    return AlertDispatcher(store, alerts, metrics, **options)


async def enqueue(store: SqliteStore, episode_id: str, severity: str = "critical") -> Delivery:
    now = time.time()
    entry = delivery_for(
        make_episode(episode_id, severity), severity, now, from_us(int(now * 1_000_000))
    )
    await store.apply(Batch(records=[], deliveries=[entry]))
    return entry


def outcomes(metrics: Metrics) -> dict[str, float]:
    found = {}
    for outcome in ("delivered", "retry", "failed"):
        value = metrics.registry.get_sample_value(
            "signals_webhook_attempts_total", {"outcome": outcome}
        )
        found[outcome] = value or 0.0
    return found


async def test_a_woken_delivery_is_sent_signed_and_marked_delivered(
    store: SqliteStore, secret: str
) -> None:
    metrics = Metrics()
    async with (
        WebhookReceiver() as receiver,
        dispatcher(store, settings(receiver.url, secret), metrics) as sender,
    ):
        assert sender.enabled
        entry = await enqueue(store, "ep_1")  # after start: only wake() can find it
        sender.wake()
        await eventually(settled(store, entry.id, "delivered"))
    [request] = receiver.received
    assert request.body == entry.payload
    assert request.headers["content-type"] == "application/json"
    assert Webhook(secret).verify(request.body, request.headers)["type"] == "anomaly.critical"
    stored = await delivery(store, entry.id)
    assert [attempt.status_code for attempt in stored.attempts] == [204]
    assert stored.attempts[0].error is None
    assert stored.attempts[0].duration_ms >= 0
    assert outcomes(metrics) == {"delivered": 1.0, "retry": 0.0, "failed": 0.0}


async def test_failures_are_retried_with_the_same_id_and_body(
    store: SqliteStore, secret: str
) -> None:
    metrics = Metrics()
    entry = await enqueue(store, "ep_1")
    async with (
        WebhookReceiver(fail_first=2, fail_status=503) as receiver,
        dispatcher(store, settings(receiver.url, secret), metrics),
    ):
        await eventually(settled(store, entry.id, "delivered"))
    assert receiver.ids() == [entry.id] * 3
    for request in receiver.received:
        assert request.body == entry.payload
        Webhook(secret).verify(request.body, request.headers)
    stored = await delivery(store, entry.id)
    assert [attempt.status_code for attempt in stored.attempts] == [503, 503, 204]
    assert [attempt.error for attempt in stored.attempts] == ["HTTP 503", "HTTP 503", None]
    assert outcomes(metrics) == {"delivered": 1.0, "retry": 2.0, "failed": 0.0}


async def test_a_receiver_that_always_fails_ends_in_failed(store: SqliteStore, secret: str) -> None:
    metrics = Metrics()
    entry = await enqueue(store, "ep_1")
    async with WebhookReceiver(fail_first=1000) as receiver:
        alerts = settings(receiver.url, secret, max_attempts=3)
        with capture_logs() as logs:
            async with dispatcher(store, alerts, metrics):
                await eventually(settled(store, entry.id, "failed"))
    assert receiver.ids() == [entry.id] * 3
    stored = await delivery(store, entry.id)
    assert [attempt.status_code for attempt in stored.attempts] == [500, 500, 500]
    assert await store.due_deliveries(time.time() + 1e6, 10) == []
    assert outcomes(metrics) == {"delivered": 0.0, "retry": 2.0, "failed": 1.0}
    warnings = [log for log in logs if log["log_level"] == "warning"]
    assert len(warnings) == 3
    assert all(log["delivery_id"] == entry.id and log["status_code"] == 500 for log in warnings)
    assert secret.removeprefix("whsec_") not in repr(logs)


async def test_a_hanging_receiver_times_out_without_holding_back_the_others(
    store: SqliteStore, secret: str
) -> None:
    slow = await enqueue(store, "ep_slow")
    async with (
        WebhookReceiver(hang_first=1, hang_ids=frozenset([slow.id])) as receiver,
        dispatcher(
            store, settings(receiver.url, secret, timeout_seconds=2.0), Metrics(), concurrency=2
        ) as sender,
    ):

        async def held() -> bool:
            return receiver.hanging == 1

        await eventually(held)
        fast = await enqueue(store, "ep_fast")
        sender.wake()
        await eventually(settled(store, fast.id, "delivered"))
        await eventually(settled(store, slow.id, "delivered"))
    # The fast one went out while the slow one's first request was still held open.
    [fast_request] = [request for request in receiver.received if request.webhook_id == fast.id]
    assert fast_request.others_hanging == 1
    first, second = (await delivery(store, slow.id)).attempts
    assert first.status_code is None
    assert first.error == "timed out after 2 s"
    assert second.status_code == 204


async def test_pending_deliveries_survive_a_restart(db_path: Path, secret: str) -> None:
    down = f"http://127.0.0.1:{free_port()}/hooks"  # nothing listens there
    store = await SqliteStore.open(db_path)
    try:
        entry = await enqueue(store, "ep_1")
        # Enough attempts that it cannot end as failed before the first one is seen.
        alerts = settings(down, secret, max_attempts=100, max_backoff_seconds=0.2)
        async with dispatcher(store, alerts, Metrics()):

            async def refused() -> bool:
                return len((await delivery(store, entry.id)).attempts) >= 1

            await eventually(refused)
    finally:
        await store.aclose()

    async with WebhookReceiver() as receiver, await SqliteStore.open(db_path) as reopened:
        assert (await delivery(reopened, entry.id)).status == "pending"
        # Polling, as after any restart: the retry it is due for was set by the old dispatcher.
        alerts = settings(receiver.url, secret)
        async with dispatcher(reopened, alerts, Metrics(), poll_seconds=0.1):
            await eventually(settled(reopened, entry.id, "delivered"))
        stored = await delivery(reopened, entry.id)
    assert receiver.ids() == [entry.id]
    assert receiver.received[0].body == entry.payload
    Webhook(secret).verify(receiver.received[0].body, receiver.received[0].headers)
    assert stored.attempts[0].status_code is None
    assert stored.attempts[0].error is not None
    assert stored.attempts[0].error.startswith("ConnectError")
    assert stored.attempts[-1].status_code == 204


async def test_many_deliveries_each_go_out_once(store: SqliteStore, secret: str) -> None:
    entries = [await enqueue(store, f"ep_{n}", "warning") for n in range(12)]

    async def all_delivered() -> bool:
        found = await all_deliveries(store)
        return all(found[entry.id].status == "delivered" for entry in entries)

    async with (
        WebhookReceiver() as receiver,
        dispatcher(store, settings(receiver.url, secret), Metrics(), concurrency=3),
    ):
        await eventually(all_delivered)
    assert sorted(receiver.ids()) == sorted(entry.id for entry in entries)


async def test_shutdown_abandons_an_attempt_in_flight_and_keeps_it_pending(
    store: SqliteStore, secret: str
) -> None:
    entry = await enqueue(store, "ep_1")
    async with WebhookReceiver(hang_first=1) as receiver:
        alerts = settings(receiver.url, secret, timeout_seconds=60.0)
        sender = dispatcher(store, alerts, Metrics(), drain_seconds=0.05)
        await sender.start()

        async def held() -> bool:
            return receiver.hanging == 1

        await eventually(held)
        await sender.aclose()
    stored = await delivery(store, entry.id)
    assert stored.status == "pending"
    assert stored.attempts == []  # abandoned: it tells nothing about the receiver


async def test_a_failing_store_is_logged_and_the_dispatcher_still_stops(
    db_path: Path, secret: str
) -> None:
    store = await SqliteStore.open(db_path)
    await store.aclose()
    with capture_logs() as logs:
        async with dispatcher(store, settings("http://127.0.0.1:9/hooks", secret), Metrics()):

            async def logged() -> bool:
                return any("could not load due" in log["event"] for log in logs)

            await eventually(logged)
    assert [log["log_level"] for log in logs] == ["error"]


async def test_without_a_webhook_url_the_dispatcher_is_off(store: SqliteStore) -> None:
    off = dispatcher(store, AlertsSettings(), Metrics())
    assert not off.enabled
    await off.start()
    off.wake()
    await off.aclose()


@pytest.mark.parametrize(
    ("url", "secret_value", "message"),
    [
        ("http://127.0.0.1:9/hooks", "whsec_not*base64", "secret: must be 'whsec_' followed by"),
        ("http://127.0.0.1:9/hooks", "whsec_", "secret: must not be empty"),
        ("ftp://127.0.0.1/hooks", "whsec_c2VjcmV0", "webhook_url: must be an http:// or https://"),
        ("hooks.example.com/x", "whsec_c2VjcmV0", "webhook_url: must be an http:// or https://"),
    ],
)
def test_bad_alert_settings_cannot_even_be_made(url: str, secret_value: str, message: str) -> None:
    # So a dispatcher never sees them: `check-config` and `serve` refuse them with exit 2.
    with pytest.raises(ValueError, match=message):
        AlertsSettings(webhook_url=url, secret=Secret(secret_value))
