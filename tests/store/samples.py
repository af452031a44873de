"""Builders of records, episodes and deliveries at known times, for the store tests."""

from __future__ import annotations

import itertools
from typing import Any

from signals.events import Record
from signals.instants import MICROS_PER_SECOND, from_us, to_us
from signals.records.delivery import Delivery
from signals.records.episode import Episode

# A Monday at 10:00 UTC: day, hour and minute boundaries fall on round offsets from it.
BASE_US = to_us("2025-01-06T10:00:00Z")
HOUR = 3600
DAY = 86_400

_numbers = itertools.count()


def us(seconds: float) -> int:
    """Epoch microseconds `seconds` after BASE."""
    return BASE_US + round(seconds * MICROS_PER_SECOND)


def at(seconds: float) -> str:
    """RFC 3339 `seconds` after BASE, shaped like `Record.received_at`."""
    return from_us(us(seconds))


def record(seconds: float = 0.0, **fields: Any) -> Record:
    n = next(_numbers)
    values: dict[str, Any] = {
        "event_id": f"ev-{n:07d}",
        "user_id": "alice",
        "signal_type": "message",
        "received_at": at(seconds),
        "sentiment": "neutral",
        "sentiment_cues": [],
        "request_id": f"req-{n}",
    }
    return Record(**{**values, **fields})


def episode(seconds: float = 0.0, **fields: Any) -> Episode:
    n = next(_numbers)
    values: dict[str, Any] = {
        "id": f"ep-{n:07d}",
        "user_id": "alice",
        "signal_type": "message",
        "severity": "warning",
        "threshold": 10,
        "window_seconds": 5.0,
        "peak_count": 11,
        "event_count": 1,
        "opened_at": at(seconds),
        "last_seen_at": at(seconds),
    }
    return Episode(**{**values, **fields})


def delivery(seconds: float = 0.0, **fields: Any) -> Delivery:
    n = next(_numbers)
    values: dict[str, Any] = {
        "id": f"msg_{n:07d}",
        "episode_id": f"ep-{n:07d}",
        "type": "anomaly.critical",
        "payload": b'{"type":"anomaly.critical"}',
        "status": "pending",
        "created_at": at(seconds),
        "next_attempt_at": BASE_US / MICROS_PER_SECOND + seconds,
    }
    return Delivery(**{**values, **fields})
