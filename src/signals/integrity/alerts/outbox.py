"""Which episode transitions raise an alert, and the outbox entry each one becomes
(docs/semantics.md).

One webhook per episode and severity at or above `alerts.min_severity`: with "warning", an
episode that opens at warning and escalates to critical raises two; with "critical", one. With
`alerts.send_resolved`, an episode that raised at least one of them sends one more when it
closes: `anomaly.resolved`, the closed episode in the body. One that raised none never does.

The delivery id (the `webhook-id`) is derived from the episode id and the severity (or
"resolved"), so computing the same alert twice (a replay, a retried batch, a close decided again
after a restart) yields the same id and the store keeps the first. The body is encoded once,
here: every retry sends these exact bytes, and `sent_at` is when the alert was raised, not when
an attempt went out.
"""

from __future__ import annotations

import msgspec
from msgspec import Struct

from signals.labels import SEVERITY_RANK
from signals.records.delivery import Delivery
from signals.records.episode import Episode


class AlertBody(Struct, kw_only=True):
    """The JSON a receiver gets: `{"type": "anomaly.<severity>" or "anomaly.resolved",
    "episode": {...}, "sent_at"}`."""

    type: str
    episode: Episode
    sent_at: str


_encoder = msgspec.json.Encoder()


def should_alert(reached: str | None, min_severity: str) -> bool:
    """Whether an episode that newly `reached` a severity (None: nothing new) raises a webhook."""
    if reached is None:
        return False
    try:
        return SEVERITY_RANK[reached] >= SEVERITY_RANK[min_severity]
    except KeyError as exc:
        raise ValueError(f"unknown severity {exc.args[0]!r}") from None


RESOLVED = "resolved"


def webhook_id(episode_id: str, severity: str) -> str:
    """`severity` is a severity, or RESOLVED for the close of an alerted episode."""
    return f"msg_{episode_id}_{severity}"


def should_resolve(episode: Episode, send_resolved: bool) -> bool:
    """Whether `episode`, now closed, sends `anomaly.resolved`: only once it alerted."""
    return send_resolved and episode.closed_at is not None and bool(episode.alerted)


def delivery_for(
    episode: Episode, severity: str, now: float, now_iso: str, traceparent: str | None = None
) -> Delivery:
    """A pending outbox entry for `episode` at `severity`, due at `now` (epoch seconds), sent in
    the trace of `traceparent` (the record's that made the episode reach `severity`).

    The episode is encoded as it is now; callers that record the alert in `episode.alerted`
    should do so first, so the receiver sees it.
    """
    if severity not in SEVERITY_RANK:
        raise ValueError(f"unknown severity {severity!r}")
    return _delivery(episode, severity, now, now_iso, traceparent)


def resolved_for(
    episode: Episode, now: float, now_iso: str, traceparent: str | None = None
) -> Delivery:
    """The `anomaly.resolved` outbox entry of a closed `episode`, due at `now`, in the trace of
    `traceparent` (the record's that closed it, when a record did)."""
    if episode.closed_at is None:
        raise ValueError(f"episode {episode.id} is still open")
    return _delivery(episode, RESOLVED, now, now_iso, traceparent)


def _delivery(
    episode: Episode, what: str, now: float, now_iso: str, traceparent: str | None
) -> Delivery:
    kind = f"anomaly.{what}"
    body = AlertBody(type=kind, episode=episode, sent_at=now_iso)
    return Delivery(
        id=webhook_id(episode.id, what),
        episode_id=episode.id,
        type=kind,
        payload=_encoder.encode(body),
        status="pending",
        created_at=now_iso,
        next_attempt_at=now,
        traceparent=traceparent,
    )
