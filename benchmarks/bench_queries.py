"""Store benchmark: insert rate, then query latency on a store of one million events.

    .venv/bin/python benchmarks/bench_queries.py [PATH] [--events N] [--rebuild]

Builds PATH (default /tmp/signals-bench-1m.db) unless it already holds the expected events:
N events (default 1,000,000) over the 7 days before a fixed, deliberately unaligned end time,
from 10k users with a Zipf-like skew, 8 signal types and a sentiment mix, with a daily rhythm;
written through `SqliteStore.apply` in batches of 1000, in time order as the journal would
replay them. Then runs each query 20 times and prints median and p95 in milliseconds, the
median CPU time of this process, and the first run alone: stats remember the per-user sums of
whole past slots, so the first call of a range is the cold one.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import functools
import itertools
import math
import os
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from signals.events import Record
from signals.instants import MICROS_PER_SECOND, from_us, to_us
from signals.store.base import Batch, SignalQuery
from signals.store.sqlite.store import SqliteStore

DAY_US = 86_400 * MICROS_PER_SECOND
# Not on a minute, hour or day boundary, as a real "now" never is.
END_US = to_us("2025-03-08T14:37:21.123456Z")
START_US = END_US - 7 * DAY_US
USERS = 10_000
SIGNAL_TYPES = {
    "message": 40,
    "tool_call": 20,
    "feedback": 12,
    "session.start": 10,
    "session.end": 8,
    "error": 5,
    "handoff": 3,
    "escalation": 2,
}
SENTIMENTS = {"neutral": 55, "positive": 20, "stressed": 15, "uncertain": 10}
CUES = {"neutral": [], "positive": ["thanks"], "stressed": ["frustrated", "!!"], "uncertain": ["?"]}
TEXTS = [
    "Can you help me reset my password? The link in the email does not work.",
    "Thanks, that fixed it!",
    "This is the third time I ask and it still fails!! I am really frustrated.",
    "I'm not sure whether the export includes archived projects?",
    "Summarise the last meeting notes and send them to the team channel.",
    "The agent called search_orders with customer_id=4411 and got 3 results.",
]
BATCH = 1000
RUNS = 20


def _draw_times(n: int, rng: random.Random) -> list[int]:
    """n instants in [START, END), sorted, twice as dense in the afternoon as at night."""
    times: list[int] = []
    while len(times) < n:
        t = rng.randrange(START_US, END_US)
        hour = (t // 3_600_000_000) % 24
        if rng.random() < 0.5 + 0.5 * math.sin(math.pi * hour / 24):
            times.append(t)
    times.sort()
    return times


def _records(n: int, seed: int = 7) -> Iterator[Record]:
    rng = random.Random(seed)
    cum_users = list(itertools.accumulate(1 / (rank**1.1) for rank in range(1, USERS + 1)))
    types = list(SIGNAL_TYPES)
    type_weights = list(itertools.accumulate(SIGNAL_TYPES.values()))
    moods = list(SENTIMENTS)
    mood_weights = list(itertools.accumulate(SENTIMENTS.values()))
    for i, t in enumerate(_draw_times(n, rng)):
        user = bisect.bisect(cum_users, rng.random() * cum_users[-1])
        mood = rng.choices(moods, cum_weights=mood_weights)[0]
        # Most ids are server-made and time-ordered; some are clients' own random keys.
        event_id = f"{t:016x}{i:08x}" if rng.random() < 0.8 else uuid.uuid4().hex
        yield Record(
            event_id=event_id,
            user_id=f"user-{user:05d}",
            signal_type=rng.choices(types, cum_weights=type_weights)[0],
            received_at=from_us(t),
            sentiment=mood,
            sentiment_cues=CUES[mood],
            request_id=f"req-{i:08d}",
            text=rng.choice(TEXTS),
            agent_id=f"agent-{rng.randrange(20)}",
            session_id=f"s-{user}-{t // 1_800_000_000}",
            metadata={"model": "gpt-x", "latency_ms": rng.randrange(50, 4000)}
            if rng.random() < 0.5
            else None,
        )


async def _stored_events(store: SqliteStore) -> int:
    stats = await store.stats(START_US, END_US, 86_400)
    return sum(stats.by_sentiment.values())


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def _build(path: Path, events: int) -> None:
    _remove(path)
    records = _records(events)
    apply_seconds = apply_cpu = tenth_seconds = 0.0
    tenth = max(events // 10, 1)
    stored = 0
    started = time.perf_counter()
    async with await SqliteStore.open(path) as store:
        while batch := list(itertools.islice(records, BATCH)):
            t0, c0 = time.perf_counter(), time.process_time()
            stored += await store.apply(Batch(records=batch))
            elapsed = time.perf_counter() - t0
            apply_seconds += elapsed
            tenth_seconds += elapsed
            apply_cpu += time.process_time() - c0
            if stored % tenth == 0:
                print(f"  {stored:>9,} stored: last {tenth:,} at {tenth / tenth_seconds:,.0f}/s")
                tenth_seconds = 0.0
    total = time.perf_counter() - started
    print(
        f"built {events:,} events in {total:.1f} s; apply() alone: {apply_seconds:.1f} s "
        f"= {events / apply_seconds:,.0f} records/s wall, {events / apply_cpu:,.0f} records/s "
        f"of CPU (batches of {BATCH}); load average {os.getloadavg()}"
    )


async def _measure(name: str, call: Callable[[], Awaitable[object]]) -> None:
    """Wall time, and CPU time of this process (all threads): on a shared machine the CPU time
    shows the query's own cost when the wall time mostly shows the neighbours'."""
    samples: list[float] = []
    cpu: list[float] = []
    for _ in range(RUNS):
        t0, c0 = time.perf_counter(), time.process_time()
        await call()
        samples.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    p95 = statistics.quantiles(samples, n=20)[18]
    print(
        f"| {name:<38} | {statistics.median(samples):8.2f} | {p95:8.2f} "
        f"| {statistics.median(cpu):8.2f} | {samples[0]:8.2f} | {cpu[0]:8.2f} |"
    )


async def _queries(store: SqliteStore) -> None:
    first_page = await store.signals(SignalQuery(limit=100))
    heavy_user = "user-00000"  # rank 1 of the Zipf draw; not looked up: stats must start cold
    by_stressed = await store.signals(SignalQuery(sentiment="stressed", limit=100))
    mid = START_US + 3 * DAY_US + 1234
    print(f"load average before the queries: {os.getloadavg()}")
    print(
        f"| {'query (20 runs), ms':<38} | {'median':>8} | {'p95':>8} | {'cpu med.':>8} "
        f"| {'1st run':>8} | {'1st cpu':>8} |"
    )
    print(f"|{'-' * 40}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 10}|")
    for label, seconds, bucket in (
        ("15m", 900, 30),
        ("1h", 3600, 60),
        ("24h", 86_400, 900),
        ("7d", 7 * 86_400, 10_800),
    ):
        since = END_US - seconds * MICROS_PER_SECOND
        await _measure(
            f"stats {label} (buckets of {bucket} s)",
            functools.partial(store.stats, since, END_US, bucket),
        )
    cases: list[tuple[str, SignalQuery]] = [
        ("signals unfiltered", SignalQuery()),
        ("signals user_id (heaviest user)", SignalQuery(user_id=heavy_user)),
        ("signals user_id (typical user)", SignalQuery(user_id="user-04321")),
        ("signals sentiment=stressed", SignalQuery(sentiment="stressed")),
        ("signals signal_type=escalation (2%)", SignalQuery(signal_type="escalation")),
        (
            "signals since/until (1h, mid-week)",
            SignalQuery(since_us=mid, until_us=mid + 3600 * 10**6),
        ),
        ("signals user+sentiment", SignalQuery(user_id=heavy_user, sentiment="stressed")),
        ("signals 2nd page (cursor)", SignalQuery(cursor=first_page.next_cursor)),
        (
            "signals 2nd page stressed (cursor)",
            SignalQuery(sentiment="stressed", cursor=by_stressed.next_cursor),
        ),
    ]
    for name, query in cases:
        await _measure(name, functools.partial(store.signals, query))
    t0 = time.perf_counter()
    exported = 0
    async for _ in store.export(SignalQuery(since_us=END_US - DAY_US)):
        exported += 1
    elapsed = time.perf_counter() - t0
    print(
        f"\nexport of the last 24 h: {exported:,} records in {elapsed:.2f} s "
        f"= {exported / elapsed:,.0f} records/s"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=Path("/tmp/signals-bench-1m.db"))
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    if args.rebuild or not args.path.exists():
        await _build(args.path, args.events)
    else:
        async with await SqliteStore.open(args.path) as store:
            found = await _stored_events(store)
        if found != args.events:
            print(f"{args.path} holds {found:,} events, not {args.events:,}: rebuilding")
            await _build(args.path, args.events)
        else:
            print(f"reusing {args.path} ({found:,} events)")
    async with await SqliteStore.open(args.path) as store:
        await _queries(store)


if __name__ == "__main__":
    asyncio.run(main())
