"""The anomaly episode as docs/semantics.md defines it; stored by the store, sent in alerts."""

from __future__ import annotations

from msgspec import Struct

from signals.labels import Severity


class Episode(Struct, kw_only=True):
    """One burst of one (user_id, signal_type) key, from its first anomalous event to its close.

    Times are RFC 3339 UTC strings like `Record.received_at`; `closed_at` is None while open.
    """

    id: str
    user_id: str
    signal_type: str
    severity: Severity
    threshold: int
    window_seconds: float
    peak_count: int
    event_count: int
    opened_at: str
    last_seen_at: str
    closed_at: str | None = None
    sample_event_ids: list[str] = []
    alerted: list[Severity] = []
