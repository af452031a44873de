"""Bucket grids: aligned to round times, clipped to the range, bounded in size."""

from __future__ import annotations

import pytest

from signals.instants import from_us, to_us
from signals.labels import SENTIMENTS
from signals.store.grid import MAX_BUCKETS, BucketGrid

T0 = to_us("2025-01-06T10:00:00Z")
S = 1_000_000


@pytest.mark.parametrize(
    ("since", "until", "bucket", "starts"),
    [
        (T0, T0 + 3600 * S, 900, ["10:00", "10:15", "10:30", "10:45"]),
        (T0 + 1, T0 + 900 * S, 900, ["10:00"]),
        (T0 + 1, T0 + 900 * S + 1, 900, ["10:00", "10:15"]),
        (T0 - 1, T0 + 1, 60, ["09:59", "10:00"]),
        (T0, T0, 60, []),
        (T0 + 7 * S, T0 + 8 * S, 10_800, ["09:00"]),
    ],
)
def test_starts(since: int, until: int, bucket: int, starts: list[str]) -> None:
    grid = BucketGrid(since, until, bucket)
    assert [s[11:16] for s in grid.starts()] == starts
    assert grid.size == len(starts)


def test_before_the_epoch() -> None:
    grid = BucketGrid(-90 * S, 30 * S, 60)
    assert grid.starts() == [from_us(-120 * S), from_us(-60 * S), from_us(0)]


def test_tally_is_zero_filled_per_bucket() -> None:
    grid = BucketGrid(T0, T0 + 180 * S, 60)
    tallies = grid.tally([(0, "stressed", 2), (2, "neutral", 1), (0, "stressed", 1)], SENTIMENTS)
    assert tallies == [
        {"stressed": 3, "positive": 0, "uncertain": 0, "neutral": 0},
        dict.fromkeys(SENTIMENTS, 0),
        {"stressed": 0, "positive": 0, "uncertain": 0, "neutral": 1},
    ]


def test_limits() -> None:
    BucketGrid(T0, T0 + MAX_BUCKETS * S, 1)
    with pytest.raises(ValueError, match="buckets"):
        BucketGrid(T0, T0 + MAX_BUCKETS * S + 1, 1)
    with pytest.raises(ValueError, match="bucket_seconds"):
        BucketGrid(T0, T0 + S, 0)
    with pytest.raises(ValueError, match="until"):
        BucketGrid(T0, T0 - 1, 60)
