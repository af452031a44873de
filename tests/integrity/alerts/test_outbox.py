"""Which transitions raise alerts, and the outbox entries they become (one per episode+severity)."""

from __future__ import annotations

import msgspec
import pytest
from tests.integrity.alerts.alerts_support import all_deliveries, make_episode

from signals.integrity.alerts.outbox import delivery_for, should_alert
from signals.store.base import Batch
from signals.store.sqlite.store import SqliteStore

NOW = 1_735_787_045.25
NOW_ISO = "2025-01-02T03:04:05.250000Z"


@pytest.mark.parametrize(
    ("reached", "min_severity", "expected"),
    [
        (None, "warning", False),
        (None, "critical", False),
        ("warning", "warning", True),
        ("critical", "warning", True),
        ("warning", "critical", False),
        ("critical", "critical", True),
    ],
)
def test_should_alert(reached: str | None, min_severity: str, expected: bool) -> None:
    assert should_alert(reached, min_severity) is expected


@pytest.mark.parametrize(("reached", "min_severity"), [("fatal", "warning"), ("warning", "info")])
def test_unknown_severities_are_refused(reached: str, min_severity: str) -> None:
    with pytest.raises(ValueError, match="unknown severity"):
        should_alert(reached, min_severity)


@pytest.mark.parametrize(
    ("min_severity", "expected"),
    [("warning", ["anomaly.warning", "anomaly.critical"]), ("critical", ["anomaly.critical"])],
)
def test_an_escalating_episode_alerts_once_per_severity_reached(
    min_severity: str, expected: list[str]
) -> None:
    # What the tracker reports for: open at warning, two more warnings, escalate, stay critical.
    transitions = ["warning", None, None, "critical", None]
    episode = make_episode("ep_9")
    types = [
        delivery_for(episode, reached, NOW, NOW_ISO).type
        for reached in transitions
        if should_alert(reached, min_severity) and reached is not None
    ]
    assert types == expected


def test_delivery_is_a_pending_entry_with_the_body_fixed_once() -> None:
    episode = make_episode("ep_42")
    delivery = delivery_for(episode, "critical", NOW, NOW_ISO)
    assert delivery.id == "msg_ep_42_critical"
    assert delivery.episode_id == "ep_42"
    assert delivery.type == "anomaly.critical"
    assert delivery.status == "pending"
    assert delivery.next_attempt_at == NOW
    assert delivery.created_at == NOW_ISO
    assert delivery.attempts == []
    assert msgspec.json.decode(delivery.payload) == {
        "type": "anomaly.critical",
        "episode": msgspec.to_builtins(episode),
        "sent_at": NOW_ISO,
    }


def test_the_same_alert_computed_twice_has_the_same_id() -> None:
    episode = make_episode("ep_1")
    first = delivery_for(episode, "warning", NOW, NOW_ISO)
    again = delivery_for(episode, "warning", NOW + 5, "2025-01-02T03:04:10.250000Z")
    assert first.id == again.id
    assert delivery_for(episode, "critical", NOW, NOW_ISO).id != first.id
    assert delivery_for(make_episode("ep_2"), "warning", NOW, NOW_ISO).id != first.id


def test_unknown_severity_makes_no_delivery() -> None:
    with pytest.raises(ValueError, match="unknown severity"):
        delivery_for(make_episode(), "fatal", NOW, NOW_ISO)


async def test_the_store_keeps_one_delivery_per_episode_and_severity(store: SqliteStore) -> None:
    episode = make_episode("ep_1")
    first = delivery_for(episode, "critical", NOW, NOW_ISO)
    again = delivery_for(episode, "critical", NOW + 5, "2025-01-02T03:04:10.250000Z")
    await store.apply(Batch(records=[], episodes=[episode], deliveries=[first]))
    await store.apply(Batch(records=[], episodes=[episode], deliveries=[again]))
    kept = await all_deliveries(store)
    assert list(kept) == [first.id]
    assert kept[first.id].payload == first.payload  # the first body stays: it may be in flight
    assert kept[first.id].next_attempt_at == NOW
