"""The shape of `Stats`, shared by every backend: bucket alignment and zero-filled tallies.

Buckets are aligned to multiples of `bucket_seconds` since the epoch (so a chart's ticks fall on
round times), the first one starting at or before `since`; each counts only what lies in
[since, until), so the first and last buckets may cover less than a full bucket. Every bucket is
listed, oldest first, with a count for each sentiment (or severity), zeros included.
"""

from __future__ import annotations

from collections.abc import Iterable

from signals.instants import MICROS_PER_SECOND, from_us
from signals.labels import SENTIMENTS, SEVERITIES
from signals.records.episode import Episode
from signals.store.base import AnomalyBucket, Bucket, Stats, TopUser

MAX_BUCKETS = 10_000


class BucketGrid:
    """Buckets of `bucket_seconds` over [since_us, until_us); `index` is a bucket's position."""

    def __init__(self, since_us: int, until_us: int, bucket_seconds: int) -> None:
        if bucket_seconds < 1:
            raise ValueError("bucket_seconds must be at least 1")
        if until_us < since_us:
            raise ValueError("until must not be before since")
        self.since_us = since_us
        self.until_us = until_us
        self.bucket_seconds = bucket_seconds
        self.bucket_us = bucket_seconds * MICROS_PER_SECOND
        self.origin_us = since_us // self.bucket_us * self.bucket_us
        last_us = until_us - 1  # until is exclusive
        self.size = 0 if until_us == since_us else (last_us - self.origin_us) // self.bucket_us + 1
        if self.size > MAX_BUCKETS:
            raise ValueError(f"more than {MAX_BUCKETS} buckets: use larger buckets")

    def starts(self) -> list[str]:
        return [from_us(self.origin_us + i * self.bucket_us) for i in range(self.size)]

    def tally(
        self, rows: Iterable[tuple[int, str, int]], keys: tuple[str, ...]
    ) -> list[dict[str, int]]:
        """(bucket index, key, count) rows into one zero-filled dict per bucket."""
        tallies = [dict.fromkeys(keys, 0) for _ in range(self.size)]
        for index, key, count in rows:
            tally = tallies[index]
            tally[key] = tally.get(key, 0) + count
        return tallies


def assemble(
    grid: BucketGrid,
    *,
    bucket_counts: list[tuple[int, str, int]],
    type_counts: list[tuple[str, int]],
    top_users: list[TopUser],
    top_users_exact: bool,
    anomaly_counts: list[tuple[int, str, int]],
    recent_anomalies: list[Episode],
) -> Stats:
    """`bucket_counts` are (bucket index, sentiment, events), `type_counts` (signal_type,
    events), `anomaly_counts` (bucket index, severity, episodes opened)."""
    by_sentiment: dict[str, int] = dict.fromkeys(SENTIMENTS, 0)
    for _, sentiment, n in bucket_counts:
        by_sentiment[sentiment] = by_sentiment.get(sentiment, 0) + n
    by_severity: dict[str, int] = dict.fromkeys(SEVERITIES, 0)
    for _, severity, n in anomaly_counts:
        by_severity[severity] = by_severity.get(severity, 0) + n
    starts = grid.starts()
    buckets = grid.tally(bucket_counts, SENTIMENTS)
    anomaly_buckets = grid.tally(anomaly_counts, SEVERITIES)
    return Stats(
        since=from_us(grid.since_us),
        until=from_us(grid.until_us),
        bucket_seconds=grid.bucket_seconds,
        buckets=[Bucket(start=s, counts=c) for s, c in zip(starts, buckets, strict=True)],
        by_signal_type=dict(sorted(type_counts, key=lambda item: (-item[1], item[0]))),
        by_sentiment=by_sentiment,
        top_users=top_users,
        top_users_exact=top_users_exact,
        anomalies_by_severity=by_severity,
        anomaly_buckets=[
            AnomalyBucket(start=s, counts=c) for s, c in zip(starts, anomaly_buckets, strict=True)
        ],
        recent_anomalies=recent_anomalies,
    )
