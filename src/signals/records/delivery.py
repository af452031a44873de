"""A webhook delivery as the outbox keeps it: one per episode and severity, and one when an
alerted episode closes."""

from __future__ import annotations

from typing import Final, Literal, get_args

from msgspec import Struct

DeliveryStatus = Literal["pending", "delivered", "failed"]
DELIVERY_STATUSES: Final[tuple[DeliveryStatus, ...]] = get_args(DeliveryStatus)


class Attempt(Struct, frozen=True, kw_only=True):
    at: str
    status_code: int | None  # None: no HTTP answer (refused, timeout)
    error: str | None
    duration_ms: float


class Delivery(Struct, kw_only=True):
    """`id` is the Standard Webhooks `webhook-id`: every retry of a delivery keeps it."""

    id: str
    episode_id: str
    type: str  # "anomaly.warning" | "anomaly.critical" | "anomaly.resolved"
    payload: bytes  # the exact JSON body that is signed and sent, identical on every retry
    status: DeliveryStatus
    created_at: str
    next_attempt_at: float  # epoch seconds
    attempts: list[Attempt] = []
    # The W3C trace context its webhook continues (`traceparent` header): the record's that
    # raised it. None for deliveries made before tracing existed.
    traceparent: str | None = None
