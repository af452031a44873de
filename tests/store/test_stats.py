"""Stats: zero-filled buckets, breakdowns, top users and anomalies, exact at every boundary."""

from __future__ import annotations

import random

import pytest

from signals.events import Record
from signals.instants import from_us, to_us
from signals.records.episode import Episode
from signals.store.base import AnomalyBucket, Batch, Bucket, Stats, Store, TopUser

from .samples import DAY, HOUR, at, episode, record, us

SENTIMENTS = ("stressed", "positive", "uncertain", "neutral")
ZERO = dict.fromkeys(SENTIMENTS, 0)
NO_ANOMALIES = {"warning": 0, "critical": 0}


async def test_a_known_hour_in_quarter_buckets(store: Store) -> None:
    inside = [
        record(0, user_id="alice", signal_type="message", sentiment="stressed"),
        record(10, user_id="alice", signal_type="message", sentiment="positive"),
        record(899.999999, user_id="bob", signal_type="tool_call", sentiment="neutral"),
        record(900, user_id="bob", signal_type="tool_call", sentiment="stressed"),
        record(2000, user_id="carol", signal_type="message", sentiment="uncertain"),
        record(3599.999999, user_id="alice", signal_type="feedback", sentiment="stressed"),
    ]
    outside = [record(3600, user_id="zed"), record(-0.000001, user_id="zed")]
    warning = episode(100, severity="warning")
    critical = [episode(1000, severity="critical"), episode(1000, severity="critical")]
    late, early = episode(3600), episode(-1)
    await store.apply(Batch(records=inside + outside, episodes=[warning, *critical, late, early]))

    stats = await store.stats(us(0), us(HOUR), 900)

    assert stats.since == "2025-01-06T10:00:00.000000Z"
    assert stats.until == "2025-01-06T11:00:00.000000Z"
    assert stats.bucket_seconds == 900
    assert stats.buckets == [
        Bucket(start=at(0), counts={**ZERO, "stressed": 1, "positive": 1, "neutral": 1}),
        Bucket(start=at(900), counts={**ZERO, "stressed": 1}),
        Bucket(start=at(1800), counts={**ZERO, "uncertain": 1}),
        Bucket(start=at(2700), counts={**ZERO, "stressed": 1}),
    ]
    assert list(stats.by_signal_type.items()) == [("message", 3), ("tool_call", 2), ("feedback", 1)]
    assert stats.by_sentiment == {"stressed": 3, "positive": 1, "uncertain": 1, "neutral": 1}
    assert stats.top_users == [
        TopUser(user_id="alice", events=3, stressed=2),
        TopUser(user_id="bob", events=2, stressed=1),
        TopUser(user_id="carol", events=1, stressed=0),
    ]
    assert stats.anomalies_by_severity == {"warning": 1, "critical": 2}
    assert stats.anomaly_buckets == [
        AnomalyBucket(start=at(0), counts={"warning": 1, "critical": 0}),
        AnomalyBucket(start=at(900), counts={"warning": 0, "critical": 2}),
        AnomalyBucket(start=at(1800), counts=NO_ANOMALIES),
        AnomalyBucket(start=at(2700), counts=NO_ANOMALIES),
    ]
    newest_two = sorted(critical, key=lambda e: e.id, reverse=True)
    assert stats.recent_anomalies == [*newest_two, warning]


async def test_buckets_align_to_round_times_and_clip_to_the_range(store: Store) -> None:
    await store.apply(
        Batch(records=[record(-451), record(-450), record(-1), record(999.999999), record(1000)])
    )
    stats = await store.stats(us(-450), us(1000), 900)  # 09:52:30 to 10:16:40
    assert [b.start for b in stats.buckets] == [at(-900), at(0), at(900)]
    assert [b.counts["neutral"] for b in stats.buckets] == [2, 0, 1]


async def test_an_empty_store_has_every_bucket_at_zero(store: Store) -> None:
    stats = await store.stats(us(0), us(HOUR), 60)
    assert len(stats.buckets) == 60
    assert all(b.counts == ZERO for b in stats.buckets)
    assert all(b.counts == NO_ANOMALIES for b in stats.anomaly_buckets)
    assert len(stats.anomaly_buckets) == 60
    assert stats.by_sentiment == ZERO
    assert stats.by_signal_type == {}
    assert stats.top_users == []
    assert stats.anomalies_by_severity == NO_ANOMALIES
    assert stats.recent_anomalies == []


async def test_an_empty_range_has_no_buckets(store: Store) -> None:
    await store.apply(Batch(records=[record(0)]))
    stats = await store.stats(us(0), us(0), 60)
    assert stats.buckets == []
    assert stats.by_sentiment == ZERO


@pytest.mark.parametrize(
    ("since", "until", "bucket"), [(0, 60, 0), (0, 60, -5), (60, 0, 60), (0, 30 * DAY, 1)]
)
async def test_impossible_ranges_are_refused(
    store: Store, since: int, until: int, bucket: int
) -> None:
    with pytest.raises(ValueError):
        await store.stats(us(since), us(until), bucket)


async def test_replayed_records_are_not_counted_twice(store: Store) -> None:
    batch = Batch(records=[record(i * 100.0, sentiment="stressed") for i in range(30)])
    await store.apply(batch)
    await store.apply(batch)
    await store.apply(Batch(records=[*batch.records[:5], record(5, sentiment="positive")]))
    stats = await store.stats(us(-DAY), us(DAY), 3600)
    assert stats.by_sentiment == {**ZERO, "stressed": 30, "positive": 1}
    assert stats.top_users == [TopUser(user_id="alice", events=31, stressed=30)]


async def test_top_users_are_the_ten_busiest_ties_by_id(store: Store) -> None:
    records = []
    for n in range(12):
        user = f"user-{n:02d}"
        records += [record(n + i / 100, user_id=user) for i in range(12 - n)]
    records += [record(50, user_id="user-11", sentiment="stressed")]  # ties user-10 at 2
    await store.apply(Batch(records=records))
    top = (await store.stats(us(0), us(HOUR), 60)).top_users
    assert [(u.user_id, u.events, u.stressed) for u in top] == [
        *((f"user-{n:02d}", 12 - n, 0) for n in range(10)),
    ]
    assert len(top) == 10


def oracle(
    records: list[Record], episodes: list[Episode], since: int, until: int, bucket: int
) -> Stats:
    """Stats computed the slow, obvious way."""
    size = bucket * 1_000_000
    origin = since // size * size
    starts = list(range(origin, until, size)) if until > since else []
    counts = [dict(ZERO) for _ in starts]
    by_type: dict[str, int] = {}
    by_sentiment = dict(ZERO)
    users: dict[str, list[int]] = {}
    for r in records:
        t = to_us(r.received_at)
        if since <= t < until:
            counts[(t - origin) // size][r.sentiment] += 1
            by_type[r.signal_type] = by_type.get(r.signal_type, 0) + 1
            by_sentiment[r.sentiment] += 1
            tally = users.setdefault(r.user_id, [0, 0])
            tally[0] += 1
            tally[1] += r.sentiment == "stressed"
    anomalies = [dict(NO_ANOMALIES) for _ in starts]
    by_severity = dict(NO_ANOMALIES)
    opened = [e for e in episodes if since <= to_us(e.opened_at) < until]
    for e in opened:
        anomalies[(to_us(e.opened_at) - origin) // size][e.severity] += 1
        by_severity[e.severity] += 1
    top = sorted(users.items(), key=lambda item: (-item[1][0], item[0]))[:10]
    return Stats(
        since=from_us(since),
        until=from_us(until),
        bucket_seconds=bucket,
        buckets=[Bucket(start=from_us(s), counts=c) for s, c in zip(starts, counts, strict=True)],
        by_signal_type=by_type,
        by_sentiment=by_sentiment,
        top_users=[TopUser(user_id=u, events=e, stressed=s) for u, (e, s) in top],
        top_users_exact=True,
        anomalies_by_severity=by_severity,
        anomaly_buckets=[
            AnomalyBucket(start=from_us(s), counts=c)
            for s, c in zip(starts, anomalies, strict=True)
        ],
        recent_anomalies=sorted(opened, key=lambda e: (to_us(e.opened_at), e.id), reverse=True)[
            :20
        ],
    )


async def test_stats_agree_with_a_plain_count_over_days_of_data(store: Store) -> None:
    rng = random.Random(11)
    users = [f"u{n}" for n in range(14)]
    weights = [1 / (n + 1) for n in range(14)]

    def random_record(seconds: float) -> Record:
        return record(
            seconds,
            user_id=rng.choices(users, weights)[0],
            signal_type=rng.choice(["message", "tool_call", "feedback", "error"]),
            sentiment=rng.choice(SENTIMENTS),
        )

    # BASE is 10:00; the data runs from 14:00 two days before to 10:00 two days after.
    records = [random_record(rng.uniform(-2 * DAY + 4 * HOUR, 2 * DAY)) for _ in range(2500)]
    # And some on either side of every kind of slot edge: midnight, hours, quarters, minutes.
    for edge in (-10 * HOUR, 14 * HOUR, 3 * HOUR, 15 * 60 * 7, 60 * 31, 60 * 32):
        records += [random_record(edge + d) for d in (-0.000001, 0, 0.000001)]
    rng.shuffle(records)
    episodes = [
        episode(rng.uniform(-DAY, DAY), severity=rng.choice(["warning", "critical"]))
        for _ in range(40)
    ]
    for start in range(0, len(records), 700):
        await store.apply(
            Batch(records=records[start : start + 700], episodes=episodes[start // 70 :][:10])
        )

    shapes: list[tuple[int, int, int]] = [
        (us(-2 * DAY), us(2 * DAY + 1), 10_800),  # everything, 3 h buckets
        (us(-10 * HOUR), us(14 * HOUR), 3600),  # midnight to midnight
        (us(-10 * HOUR), us(14 * HOUR), 86_400),
        (us(3 * HOUR), us(3 * HOUR + 60 * 32), 60),  # hour edge to a minute edge
        (us(60 * 31), us(60 * 32), 30),
        (us(60 * 31) + 1, us(60 * 32) - 1, 60),
        (us(15 * 60 * 7), us(15 * 60 * 7 + DAY), 900),
    ]
    for length in (900, 3600, DAY, 7 * DAY):
        for bucket in (7, 30, 60, 900, 3600, 10_800):
            if length // bucket <= 2000:
                until = us(rng.uniform(-DAY, 2 * DAY))
                shapes.append((until - length * 1_000_000, until, bucket))
    for since, until, bucket in shapes:
        got = await store.stats(since, until, bucket)
        assert got == oracle(records, episodes, since, until, bucket), (since, until, bucket)


async def test_late_events_in_past_slots_are_counted(store: Store) -> None:
    """Whole past slots may be remembered between calls; a late or replayed event still counts."""
    await store.apply(Batch(records=[record(h * HOUR + 5, user_id="bob") for h in range(-30, 0)]))
    since, until = us(-DAY - 1234.5), us(-0.5)
    first = await store.stats(since, until, 900)
    assert first.top_users == [TopUser(user_id="bob", events=24, stressed=0)]
    late = [record(-5 * HOUR + 7, user_id="carol", sentiment="stressed") for _ in range(30)]
    await store.apply(Batch(records=late))
    again = await store.stats(since, until, 900)
    assert again.top_users[0] == TopUser(user_id="carol", events=30, stressed=30)
    assert again.by_sentiment["stressed"] == 30
    edge = record(-DAY - 1234.5, user_id="dave")  # exactly at since, in a raw edge
    await store.apply(Batch(records=[edge, record(-0.5, user_id="dave")]))  # and at until
    assert [u.user_id for u in (await store.stats(since, until, 900)).top_users] == [
        "carol",
        "bob",
        "dave",
    ]
