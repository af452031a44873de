"""The Prometheus instruments (docs/monitoring.md), in a registry of their own per service instance.

A registry per instance rather than the global one, so tests can build several services in one
process. Labels are bounded: routes are templates, signal types beyond `MAX_SIGNAL_TYPES` share
the label "other", and there is never a user_id label.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

MAX_SIGNAL_TYPES = 200
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events = Counter(
            "signals_events_total", "Accepted events.", ["signal_type", "sentiment"], registry=r
        )
        self.duplicates = Counter(
            "signals_duplicate_events_total", "Events answered as duplicates.", registry=r
        )
        self.rejections = Counter(
            "signals_rejections_total", "Rejected requests or batch items.", ["reason"], registry=r
        )
        self.anomalies = Counter(
            "signals_anomalies_total", "Episodes opened or escalated.", ["severity"], registry=r
        )
        self.request_latency = Histogram(
            "signals_request_duration_seconds",
            "HTTP request latency by route template.",
            ["port", "method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.fsync_latency = Histogram(
            "signals_journal_fsync_seconds",
            "Journal write+fsync latency per group commit.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.group_size = Histogram(
            "signals_journal_group_lines",
            "Lines per group commit.",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000),
            registry=r,
        )
        self.journal_unavailable = Gauge(
            "signals_journal_unavailable",
            "1 while the journal refuses appends: its last group write or fsync failed, or its "
            "writer stopped.",
            registry=r,
        )
        self.queue_depth = Gauge(
            "signals_queue_depth", "Events journaled but not yet consumed.", registry=r
        )
        self.consumer_lag = Gauge(
            "signals_consumer_lag_seconds",
            "Age of the oldest event the store consumer has not written.",
            registry=r,
        )
        self.router_lag = Gauge(
            "signals_router_lag_seconds", "Age of the oldest record not yet delivered.", registry=r
        )
        self.router_outcomes = Counter(
            "signals_router_requests_total",
            "Router deliveries by outcome.",
            ["outcome"],
            registry=r,
        )
        self.webhook_outcomes = Counter(
            "signals_webhook_attempts_total",
            "Webhook attempts by outcome.",
            ["outcome"],
            registry=r,
        )
        self.auth_failures = Counter(
            "signals_auth_failures_total",
            "Failed authentications by reason.",
            ["reason"],
            registry=r,
        )
        self.rate_limited = Counter(
            "signals_rate_limited_total", "Requests refused with 429.", ["limit"], registry=r
        )
        self.windows_fallbacks = Counter(
            "signals_windows_fallbacks_total",
            "Times the Redis windows were lost and memory windows took over.",
            registry=r,
        )
        self.windows_degraded = Gauge(
            "signals_windows_degraded",
            "1 while windows run in memory instead of Redis.",
            registry=r,
        )
        self._signal_types: set[str] = set()

    def signal_type_label(self, signal_type: str) -> str:
        if signal_type in self._signal_types:
            return signal_type
        if len(self._signal_types) < MAX_SIGNAL_TYPES:
            self._signal_types.add(signal_type)
            return signal_type
        return "other"

    def render(self) -> bytes:
        return generate_latest(self.registry)
