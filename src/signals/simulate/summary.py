"""What a run did: the counters request tasks update, the summary they make, and its text."""

from __future__ import annotations

from collections import Counter
from typing import Any

import structlog
from msgspec import Struct

from signals.labels import SENTIMENTS

logger = structlog.get_logger(__name__)


class SimulationSummary(Struct, frozen=True, kw_only=True):
    """What a run did. Event counts satisfy sent == accepted + duplicates + rejected + failed."""

    url: str
    target_rate: float
    elapsed_seconds: float
    achieved_rate: float  # events sent per second of elapsed time
    requests: int
    sent: int
    accepted: int
    duplicates: int
    rejected: int  # refused by validation (422, or items of a batch)
    failed: int  # events whose request failed (transport error or another status)
    errors: dict[str, int]  # failed requests by kind: "connect", "timeout", "http_503", ...
    bursts: int
    critical_bursts: int
    users: int  # distinct users that sent at least one event
    sentiments_sent: dict[str, int]  # the corpus label of each new event's text
    sentiments_classified: dict[str, int]  # what the service answered for single events
    signal_types: dict[str, int]


class Tally:
    """Counters the request tasks update; all on one event loop, so no locking."""

    def __init__(self) -> None:
        self.requests = 0
        self.sent = 0
        self.accepted = 0
        self.duplicates = 0
        self.rejected = 0
        self.failed = 0
        self.errors: Counter[str] = Counter()
        self.bursts = 0
        self.critical_bursts = 0
        self.users: set[str] = set()
        self.sentiments_sent: Counter[str] = Counter()
        self.sentiments_classified: Counter[str] = Counter()
        self.signal_types: Counter[str] = Counter()

    def count_new(self, event: dict[str, Any], label: str) -> None:
        self.users.add(event["user_id"])
        self.sentiments_sent[label] += 1
        self.signal_types[event["signal_type"]] += 1

    def fail(self, kind: str, events: int, url: str) -> None:
        if kind not in self.errors:
            logger.warning("simulate_request_failed", kind=kind, url=url)
        self.errors[kind] += 1
        self.failed += events

    def figures(self) -> dict[str, int]:
        """What the live line shows beside the events sent: errors are failed requests."""
        return {"accepted": self.accepted, "bursts": self.bursts, "errors": self.errors.total()}

    def summary(self, url: str, target_rate: float, elapsed: float) -> SimulationSummary:
        return SimulationSummary(
            url=url,
            target_rate=target_rate,
            elapsed_seconds=round(elapsed, 3),
            achieved_rate=round(self.sent / elapsed, 2) if elapsed > 0 else 0.0,
            requests=self.requests,
            sent=self.sent,
            accepted=self.accepted,
            duplicates=self.duplicates,
            rejected=self.rejected,
            failed=self.failed,
            errors=dict(self.errors),
            bursts=self.bursts,
            critical_bursts=self.critical_bursts,
            users=len(self.users),
            sentiments_sent={s: self.sentiments_sent[s] for s in SENTIMENTS},
            sentiments_classified=dict(self.sentiments_classified),
            signal_types=dict(self.signal_types.most_common()),
        )


def format_summary(summary: SimulationSummary) -> str:
    """A few aligned lines for a terminal."""

    def mix(counts: dict[str, int]) -> str:
        total = sum(counts.values())
        if not total:
            return "none"
        return " · ".join(f"{k} {v} ({v / total:.0%})" for k, v in counts.items() if v)

    errors = ", ".join(f"{k} {v}" for k, v in sorted(summary.errors.items())) or "none"
    lines = [
        f"simulated traffic to {summary.url} for {summary.elapsed_seconds:.1f} s",
        f"  sent        {summary.sent} events in {summary.requests} requests "
        f"({summary.achieved_rate:.1f}/s, target {summary.target_rate:g}/s), "
        f"{summary.users} users",
        f"  outcome     accepted {summary.accepted} · duplicates {summary.duplicates} · "
        f"rejected {summary.rejected} · failed {summary.failed}",
        f"  errors      {errors}",
        f"  bursts      {summary.bursts} ({summary.critical_bursts} critical)",
        f"  sentiment   sent: {mix(summary.sentiments_sent)}",
        f"              classified: {mix(summary.sentiments_classified)}",
        f"  types       {mix(summary.signal_types)}",
    ]
    if not delivered(summary):
        answered = any(kind.startswith("http_") for kind in summary.errors) or summary.rejected
        lines.append(
            f"  nothing was accepted by {summary.url}: see the errors (a key needed: --api-key?)"
            if answered
            else f"  nothing reached {summary.url}: is `signals serve` running there?"
        )
    return "\n".join(lines)


def delivered(summary: SimulationSummary) -> bool:
    """Whether the service took any of what was sent (the CLI exits 1 when it took none)."""
    return not summary.sent or bool(summary.accepted or summary.duplicates)
