"""The outbox row, the same in every store: a delivery to a row and back.

Columns (both stores select them in this order as `DELIVERY_COLUMNS`): id, episode_id, type,
payload, status, created_at, created_us, next_attempt_at, attempts (JSON), traceparent.
"""

from __future__ import annotations

from typing import Any

import msgspec

from signals.instants import to_us
from signals.records.delivery import Attempt, Delivery

_encoder = msgspec.json.Encoder()
_attempts = msgspec.json.Decoder(list[Attempt])


def delivery_row(delivery: Delivery) -> tuple[Any, ...]:
    return (
        delivery.id,
        delivery.episode_id,
        delivery.type,
        delivery.payload,
        delivery.status,
        delivery.created_at,
        to_us(delivery.created_at),
        delivery.next_attempt_at,
        _encoder.encode(delivery.attempts).decode(),
        delivery.traceparent,
    )


def delivery_from_row(row: Any) -> Delivery:
    """A row selected with `DELIVERY_COLUMNS`."""
    return Delivery(
        id=row[0],
        episode_id=row[1],
        type=row[2],
        payload=bytes(row[3]),
        status=row[4],
        created_at=row[5],
        next_attempt_at=row[7],
        attempts=_attempts.decode(row[8]),
        traceparent=row[9],
    )
