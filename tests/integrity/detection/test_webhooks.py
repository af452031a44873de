"""Signed webhooks through the real service, verified by an independent implementation.

The receiver is a real HTTP server in the test; every body it gets is checked with the
`standardwebhooks` package (the scheme's reference library), not with
`signals.integrity.alerts.signing`.
`alerts.max_backoff_seconds` is small so retries come within a fraction of a second.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from tests.conftest import live_service, settings_for
from tests.integrity.detection.receiver import Hook, Receiver
from tests.integrity.detection.support import (
    Json,
    batch,
    episodes_of,
    event,
    eventually,
    stored,
)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def alert_env(receiver: Receiver, secret: str, min_severity: str, **more: str) -> dict[str, str]:
    """Alerts to `receiver`. These tests count the alerts of open episodes, so an episode that
    closes meanwhile (a slow machine) sends no `anomaly.resolved`, unless `more` asks for it:
    `test_resolved.py` tests those."""
    return {
        "ALERTS__WEBHOOK_URL": receiver.url,
        "ALERTS__SECRET": secret,
        "ALERTS__MIN_SEVERITY": min_severity,
        "ALERTS__MAX_BACKOFF_SECONDS": "0.2",
        "ALERTS__TIMEOUT_SECONDS": "2",
        "ALERTS__SEND_RESOLVED": "false",
        **more,
    }


async def deliveries(integrity: httpx.AsyncClient) -> list[Json]:
    response = await integrity.get("/v1/alerts", params={"limit": "1000"})
    assert response.status_code == 200, response.text
    items: list[Json] = response.json()["items"]
    return items


async def settled(
    integrity: httpx.AsyncClient, count: int, status: str = "delivered"
) -> list[Json]:
    """Wait until there are `count` deliveries and all of them have `status`."""

    async def check() -> list[Json] | None:
        items = await deliveries(integrity)
        done = len(items) == count and all(item["status"] == status for item in items)
        return items if done else None

    return await eventually(check, within=15.0)


def verified(secret: str, hook: Hook) -> dict[str, Any]:
    """The body, once the reference library has accepted its signature (it raises otherwise)."""
    Webhook(secret).verify(hook.body, hook.headers)
    body = hook.json()
    assert set(body) == {"type", "episode", "sent_at"}
    return body


@pytest.mark.parametrize("min_severity", ["warning", "critical"])
async def test_one_signed_webhook_per_episode_and_severity(
    tmp_path: Path, min_severity: str
) -> None:
    secret = new_secret()
    async with Receiver() as receiver:
        env = alert_env(receiver, secret, min_severity)
        settings = settings_for(tmp_path, THRESHOLDS__DEFAULT="4", WINDOWS__SECONDS="10", **env)
        async with live_service(settings) as live:
            # "climber": 5 opens a warning, 6 = 1.5 T escalates, 7 and 8 only update, all four
            # in one request, so one consumer batch sees the open, the escalation and updates.
            quiet = await batch(live.ingest, [event("climber") for _ in range(4)])
            crossing = await batch(live.ingest, [event("climber") for _ in range(4)])
            # "warm": 5 events, a warning that never escalates.
            warm_ids = await batch(live.ingest, [event("warm") for _ in range(5)])
            await stored(live.ingest, quiet + crossing + warm_ids)
            [climber] = await episodes_of(live.integrity, "climber")
            [warm] = await episodes_of(live.integrity, "warm")
            assert (climber["severity"], warm["severity"]) == ("critical", "warning")

            expected = {(climber["id"], "critical")}
            if min_severity == "warning":
                expected |= {(climber["id"], "warning"), (warm["id"], "warning")}
            sent = await settled(live.integrity, len(expected))
            assert {(item["episode_id"], item["type"]) for item in sent} == {
                (episode_id, f"anomaly.{severity}") for episode_id, severity in expected
            }
            assert climber["alerted"] == (
                ["warning", "critical"] if min_severity == "warning" else ["critical"]
            )
            assert warm["alerted"] == (["warning"] if min_severity == "warning" else [])

    # Exactly one POST per delivery: every later event of the burst raised nothing more.
    assert len(receiver.received) == len(expected)
    assert sorted(hook.webhook_id for hook in receiver.received) == sorted(
        item["id"] for item in sent
    )
    for hook in receiver.received:
        body = verified(secret, hook)
        severity = body["type"].removeprefix("anomaly.")
        assert (body["episode"]["id"], severity) in expected
        assert body["episode"]["severity"] == severity
        # The body shows the episode as it was when that severity was reached.
        alerted = ["warning", "critical"] if min_severity == "warning" else ["critical"]
        assert body["episode"]["alerted"] == alerted[: alerted.index(severity) + 1]
        assert body["episode"]["user_id"] in ("climber", "warm")
        assert isinstance(body["sent_at"], str)
        [item] = [item for item in sent if item["id"] == hook.webhook_id]
        assert [attempt["status_code"] for attempt in item["attempts"]] == [204]


async def test_the_reference_verifier_rejects_what_was_not_signed(tmp_path: Path) -> None:
    secret = new_secret()
    async with Receiver() as receiver:
        env = alert_env(receiver, secret, "warning")
        settings = settings_for(tmp_path, THRESHOLDS__DEFAULT="2", **env)
        async with live_service(settings) as live:
            await batch(live.ingest, [event("tamper") for _ in range(3)])
            await settled(live.integrity, 1)
    [hook] = receiver.received
    verified(secret, hook)
    for bad_secret, body, headers in (
        (new_secret(), hook.body, hook.headers),
        (secret, hook.body.replace(b"tamper", b"tamped"), hook.headers),
        (secret, hook.body, {**hook.headers, "webhook-id": hook.webhook_id + "x"}),
        (secret, hook.body, {**hook.headers, "webhook-timestamp": "1"}),
    ):
        with pytest.raises(WebhookVerificationError):
            Webhook(bad_secret).verify(body, headers)


async def test_a_failing_receiver_is_retried_with_the_same_webhook_id(tmp_path: Path) -> None:
    secret = new_secret()
    async with Receiver(fail_first=2) as receiver:
        env = alert_env(receiver, secret, "warning")
        settings = settings_for(tmp_path, THRESHOLDS__DEFAULT="2", **env)
        async with live_service(settings) as live:
            await batch(live.ingest, [event("flaky") for _ in range(3)])
            [item] = await settled(live.integrity, 1)
    assert len(receiver.received) == 3
    assert {hook.webhook_id for hook in receiver.received} == {item["id"]}
    assert len({hook.body for hook in receiver.received}) == 1  # the same bytes every time
    for hook in receiver.received:
        verified(secret, hook)
    attempts = item["attempts"]
    assert [a["status_code"] for a in attempts] == [500, 500, 204]
    assert [a["error"] for a in attempts] == ["HTTP 500", "HTTP 500", None]
    assert [a["at"] for a in attempts] == sorted(a["at"] for a in attempts)


async def test_a_receiver_that_never_succeeds_fails_after_max_attempts(tmp_path: Path) -> None:
    secret = new_secret()
    async with Receiver(fail_first=1000, fail_status=503) as receiver:
        env = alert_env(receiver, secret, "warning", ALERTS__MAX_ATTEMPTS="3")
        settings = settings_for(tmp_path, THRESHOLDS__DEFAULT="2", **env)
        async with live_service(settings) as live:
            await batch(live.ingest, [event("hopeless") for _ in range(3)])
            [item] = await settled(live.integrity, 1, status="failed")
            assert (await live.integrity.get("/v1/alerts", params={"status": "failed"})).json()[
                "items"
            ] == [item]
            metrics = (await live.integrity.get("/metrics")).text
    assert [a["status_code"] for a in item["attempts"]] == [503, 503, 503]
    assert len(receiver.received) == 3
    assert {hook.webhook_id for hook in receiver.received} == {item["id"]}
    assert 'signals_webhook_attempts_total{outcome="failed"} 1.0' in metrics
    assert 'signals_webhook_attempts_total{outcome="retry"} 2.0' in metrics


async def test_a_pending_delivery_survives_a_restart_and_is_delivered_once(
    tmp_path: Path,
) -> None:
    secret = new_secret()
    receiver = Receiver()  # not listening yet: its port refuses connections
    # Up to 20 attempts, at most 0.5 s apart: still pending when the service stops.
    env = alert_env(receiver, secret, "warning", ALERTS__MAX_ATTEMPTS="20",
                    ALERTS__MAX_BACKOFF_SECONDS="0.5")  # fmt: skip
    settings = settings_for(tmp_path, THRESHOLDS__DEFAULT="2", **env)
    async with live_service(settings) as live:
        await batch(live.integrity, [event("restarted") for _ in range(3)], "/v1/events")

        async def refused() -> list[Json] | None:
            items = await deliveries(live.integrity)
            return items if items and items[0]["attempts"] else None

        [pending] = await eventually(refused)
        assert pending["status"] == "pending"
        assert pending["attempts"][0]["status_code"] is None

    # A new service on the same data directory, every in-memory state gone; the receiver is up.
    async with receiver, live_service(settings) as live:
        [delivered] = await settled(live.integrity, 1)
        [episode] = await episodes_of(live.integrity, "restarted")
    assert delivered["id"] == pending["id"]
    [hook] = receiver.received
    assert hook.webhook_id == pending["id"]
    body = verified(secret, hook)
    assert body["episode"]["id"] == episode["id"] == delivered["episode_id"]
    assert episode["alerted"] == ["critical"]  # 3 >= 1.5 * 2: it opened critical
    failures = delivered["attempts"][:-1]
    assert len(failures) >= len(pending["attempts"])
    assert all(attempt["status_code"] is None for attempt in failures)
    assert delivered["attempts"][-1]["status_code"] == 204
