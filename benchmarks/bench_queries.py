"""Store benchmark: `/v1/stats`, listings and export on a large store; ingest with a dashboard.

    .venv/bin/python benchmarks/bench_queries.py --backend sqlite --shape spread --events 10000000
    .venv/bin/python benchmarks/bench_queries.py --backend postgres --shape burst --events 10000000

Shapes: `spread` puts N events over the 7 days before END (a fixed instant on no minute, hour or
day boundary), twice as dense in the afternoon as at night; `burst` puts all N in the 15
minutes before END, the worst case for the recent edge of a range. 10k users with a Zipf-like
skew, 8 signal types, a sentiment mix, realistic texts and metadata. The store is built
through `Store.apply` in batches of `BATCH` (the consumer's path, not HTTP), in time order as
the journal would replay it (made by a child process, on the other core), then
`Store.seal(END)` derives the closed user slots (what the upkeep task does every 10 s while
events arrive; its time is printed). A store that already holds N events of that shape is
reused (`--rebuild` forces a new one).

Then, each query `RUNS` times (median, p95, the first run alone):
- `/v1/stats` for every range, over the window the endpoint asks for at END
  (`stats_cache.aligned_window`), with the endpoint's bucket sizes;
- `/v1/signals` with each filter;
- `/v1/signals/export` of about 300k records through the endpoint's own code (in process,
  httpx's ASGI transport): records/s;
- ingest with the dashboard open: `Store.apply` of new batches for `--ingest-seconds`, alone
  and with one stats query every 5 s (the ranges in turn), in five pairs of runs: events/s,
  events per CPU second of this process, and the median ratio of the pairs.
The load average is printed before each part: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import functools
import itertools
import math
import multiprocessing
import os
import random
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import httpx
import msgspec
from starlette.applications import Starlette
from starlette.routing import Route

from signals.errors import SignalsError
from signals.events import Record
from signals.ingest.history import RANGES, SignalHistory
from signals.ingest.stats_cache import aligned_window
from signals.instants import MICROS_PER_SECOND, from_us, to_us
from signals.store.base import Batch, SignalQuery, Store
from signals.store.postgres.store import PostgresStore
from signals.store.sqlite.store import SqliteStore

S = MICROS_PER_SECOND
END_US = to_us("2025-03-08T14:37:21.123456Z")
SPANS = {"spread": 7 * 86_400 * S, "burst": 900 * S}
LATER_US = END_US + 2 * 86_400 * S  # where the ingest part's new events start
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
BATCH = 2000
RUNS = 20
DASHBOARD_SECONDS = 5.0
PAIRS = 5


class Timeline:
    """Instant i of n, in order: the shape's density, inverted minute by minute."""

    def __init__(self, shape: str, n: int) -> None:
        self.start = END_US - SPANS[shape]
        minutes = SPANS[shape] // (60 * S)
        weights = [1.0] * minutes
        if shape == "spread":
            start_minute = self.start // (60 * S)
            for m in range(minutes):
                hour = (start_minute + m) // 60 % 24
                weights[m] = 0.5 + 0.5 * math.sin(math.pi * hour / 24)
        self.cumulative = list(itertools.accumulate(weights))
        self.n = n

    def at(self, i: int, jitter: float) -> int:
        target = (i + jitter) / self.n * self.cumulative[-1]
        minute = bisect.bisect(self.cumulative, target)
        before = self.cumulative[minute - 1] if minute else 0.0
        share = (target - before) / (self.cumulative[minute] - before)
        return min(self.start + int((minute + share) * 60 * S), END_US - 1)


def records(shape: str, n: int, run: str = "") -> Iterator[Record]:
    """The shape's N events in order; with `run`, endless new ones from two days after END,
    20,000 per second of their clock, with ids of their own."""
    rng = random.Random(f"{run}7")
    timeline = Timeline(shape, n)
    cum_users = list(itertools.accumulate(1 / (rank**1.1) for rank in range(1, USERS + 1)))
    types, type_cum = list(SIGNAL_TYPES), list(itertools.accumulate(SIGNAL_TYPES.values()))
    moods, mood_cum = list(SENTIMENTS), list(itertools.accumulate(SENTIMENTS.values()))
    for i in itertools.count():
        if i >= n and not run:
            return
        t = timeline.at(i, rng.random()) if not run else LATER_US + i * 50
        user = bisect.bisect(cum_users, rng.random() * cum_users[-1])
        mood = rng.choices(moods, cum_weights=mood_cum)[0]
        # Most ids are server-made and time-ordered; some are clients' own random keys.
        event_id = f"{run}{t:016x}{i:08x}" if rng.random() < 0.8 else f"{rng.getrandbits(128):032x}"
        yield Record(
            event_id=event_id,
            user_id=f"user-{user:05d}",
            signal_type=rng.choices(types, cum_weights=type_cum)[0],
            received_at=from_us(t),
            sentiment=mood,
            sentiment_cues=CUES[mood],
            request_id=f"req-{i:08d}",
            text=TEXTS[i % len(TEXTS)],
            agent_id=f"agent-{i % 20}",
            session_id=f"s-{user}-{t // 1_800_000_000}",
            metadata={"model": "gpt-x", "latency_ms": 50 + i % 3950} if i % 2 else None,
        )


def produce(shape: str, n: int, run: str, queue: multiprocessing.Queue[bytes | None]) -> None:
    """In a child process: the events in batches, msgpack-encoded, then None."""
    source = records(shape, n, run)
    while batch := list(itertools.islice(source, BATCH)):
        queue.put(msgspec.msgpack.encode(batch))
    queue.put(None)


class Feed:
    """Batches of `records` made by a child process, so that the other core makes them while
    this one stores them; `take()` returns None at the end."""

    _decoder = msgspec.msgpack.Decoder(list[Record])

    def __init__(self, shape: str, n: int, run: str = "") -> None:
        context = multiprocessing.get_context("spawn")
        self._queue: multiprocessing.Queue[bytes | None] = context.Queue(maxsize=32)
        self._process = context.Process(
            target=produce, args=(shape, n, run, self._queue), daemon=True
        )
        self._process.start()

    async def take(self) -> list[Record] | None:
        data = await asyncio.to_thread(self._queue.get)
        return None if data is None else self._decoder.decode(data)

    def close(self) -> None:
        self._process.terminate()
        self._process.join()


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


@contextlib.asynccontextmanager
async def opened(args: argparse.Namespace) -> AsyncIterator[Store]:
    if args.backend == "sqlite":
        async with await SqliteStore.open(args.path) as sqlite_store:
            yield sqlite_store
        return
    async with await PostgresStore.open(args.url) as postgres_store:
        yield postgres_store


async def stored_events(store: Store) -> int:
    stats = await store.stats(END_US - SPANS["spread"] - 86_400 * S, END_US + 86_400 * S, 86_400)
    return sum(stats.by_sentiment.values())


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def reset(args: argparse.Namespace) -> None:
    if args.backend == "sqlite":
        remove_sqlite(args.path)
        return
    schema = dict(parse_qsl(urlsplit(args.url).query))["search_path"]
    conn = await asyncpg.connect(args.admin_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()


async def build(args: argparse.Namespace) -> None:
    await reset(args)
    feed = Feed(args.shape, args.events)
    started = time.perf_counter()
    applying = 0.0
    async with opened(args) as store:
        stored = 0
        while batch := await feed.take():
            t0 = time.perf_counter()
            stored += await store.apply(Batch(records=batch))
            applying += time.perf_counter() - t0
            if stored % (args.events // 10 or 1) < BATCH:
                print(f"  {stored:>11,} stored, {stored / applying:,.0f}/s in apply; {load()}")
        feed.close()
        total = time.perf_counter() - started
        print(
            f"built {stored:,} events in {total:.0f} s (apply alone {applying:.0f} s, "
            f"{stored / applying:,.0f} events/s)"
        )
        t0 = time.perf_counter()
        derived = await store.seal(END_US, since_us=0)
        print(f"derived {derived:,} closed user slots in {time.perf_counter() - t0:.0f} s")
    if args.backend == "postgres":
        # What autovacuum's analyze does on a live database: plans need the tables' statistics.
        conn = await asyncpg.connect(args.url)
        try:
            await conn.execute("ANALYZE")
        finally:
            await conn.close()


async def measure(name: str, call: Callable[[], Awaitable[object]]) -> float:
    """Wall time, and the CPU time of this process (all its threads: SQLite's work included,
    a PostgreSQL server's not); on a shared machine the CPU time shows a query's own cost when
    the wall time mostly shows the neighbours'."""
    samples: list[float] = []
    cpu: list[float] = []
    for _ in range(RUNS):
        t0, c0 = time.perf_counter(), time.process_time()
        await call()
        samples.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    median = statistics.median(samples)
    p95 = statistics.quantiles(samples, n=20)[18]
    print(
        f"| {name:<40} | {median:8.2f} | {p95:8.2f} | {samples[0]:8.2f} "
        f"| {statistics.median(cpu):8.2f} |"
    )
    return median


async def queries(store: Store, shape: str, events: int) -> None:
    print(f"\n{load()}")
    print(
        f"| {'query (20 runs), ms':<40} | {'median':>8} | {'p95':>8} | {'1st run':>8} "
        f"| {'cpu med.':>8} |"
    )
    print(f"|{'-' * 42}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 10}|")
    exact = []
    for name, (seconds, bucket) in RANGES.items():
        since, until = aligned_window(seconds, END_US / S)
        await measure(
            f"stats {name} (buckets of {bucket} s)",
            functools.partial(store.stats, since, until, bucket),
        )
        exact.append(f"{name}: {(await store.stats(since, until, bucket)).top_users_exact}")
    first_page = await store.signals(SignalQuery(limit=100))
    stressed = await store.signals(SignalQuery(sentiment="stressed", limit=100))
    mid = END_US - SPANS[shape] // 2 + 1234
    window = min(3600 * S, SPANS[shape] // 15)
    cases = {
        "signals unfiltered": SignalQuery(),
        "signals user_id (heaviest user)": SignalQuery(user_id="user-00001"),
        "signals user_id (typical user)": SignalQuery(user_id="user-04321"),
        "signals sentiment=stressed": SignalQuery(sentiment="stressed"),
        "signals signal_type=escalation (2%)": SignalQuery(signal_type="escalation"),
        "signals since/until (mid-range)": SignalQuery(since_us=mid, until_us=mid + window),
        "signals user+sentiment": SignalQuery(user_id="user-00001", sentiment="stressed"),
        "signals user+type (rare pair)": SignalQuery(user_id="user-04321", signal_type="handoff"),
        "signals 2nd page (cursor)": SignalQuery(cursor=first_page.next_cursor),
        "signals 2nd page stressed (cursor)": SignalQuery(
            sentiment="stressed", cursor=stressed.next_cursor
        ),
    }
    for name, query in cases.items():
        await measure(name, functools.partial(store.signals, query))
    print(f"top users proved exact: {', '.join(exact)}")
    await export(store, shape, events)


async def export(store: Store, shape: str, events: int) -> None:
    """GET /v1/signals/export (the endpoint's own code, in process) of ~300k records."""
    app = Starlette(routes=[Route("/v1/signals/export", SignalHistory(store).export)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        span = SPANS[shape] * min(1.0, 300_000 / events)
        for label, until in (("ending at END", END_US), ("mid-range", END_US - SPANS[shape] // 2)):
            since = until - int(span)
            t0, c0 = time.perf_counter(), time.process_time()
            response = await client.get(
                "/v1/signals/export", params={"since": from_us(since), "until": from_us(until)}
            )
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
            lines = response.content.count(b"\n")
            print(
                f"export ({label}): {lines:,} records in {elapsed:.2f} s = "
                f"{lines / elapsed:,.0f}/s ({lines / cpu:,.0f} per CPU second of this process)"
            )


async def ingest(store: Store, seconds: float, shape: str, events: int) -> None:
    """Events/s of apply alone and with a stats query every 5 s, in PAIRS pairs of runs (the
    order within a pair alternating, after a warm-up run), and the median of the pairs' ratios;
    also per CPU second of this process, the steadier figure for SQLite on a shared machine."""
    print(f"\ningest alone and with a dashboard, {PAIRS} pairs of {seconds:.0f} s runs; {load()}")
    feed = Feed(shape, events, run=f"r{time.time_ns():x}-")
    ranges = itertools.cycle(RANGES.values())
    latest = [LATER_US]

    async def dashboard(stop: asyncio.Event) -> None:
        while not stop.is_set():
            range_seconds, bucket = next(ranges)
            since, until = aligned_window(range_seconds, latest[0] / S)
            await store.stats(since, until, bucket)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), DASHBOARD_SECONDS)

    async def run(with_dashboard: bool, length: float) -> tuple[float, float]:
        stop = asyncio.Event()
        viewer = asyncio.create_task(dashboard(stop)) if with_dashboard else None
        count, t0, c0 = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - t0 < length:
            batch = await feed.take() or []
            count += await store.apply(Batch(records=batch))
            latest[0] = to_us(batch[-1].received_at)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        stop.set()
        if viewer is not None:
            await viewer
        return count / wall, count / cpu

    await run(False, min(seconds, 5.0))  # warm-up: caches, the feed's first batches
    pairs: list[tuple[tuple[float, float], tuple[float, float]]] = []
    for n in range(PAIRS):
        first = n % 2 == 1
        a = await run(first, seconds)
        b = await run(not first, seconds)
        pairs.append((b, a) if first else (a, b))
    feed.close()
    for i, label in ((0, "events/s"), (1, "events per CPU second")):
        alone = [pair[0][i] for pair in pairs]
        watched = [pair[1][i] for pair in pairs]
        ratio = statistics.median(w / a for a, w in zip(alone, watched, strict=True))
        print(
            f"{label}: alone {statistics.median(alone):,.0f}, with a dashboard "
            f"{statistics.median(watched):,.0f}; median ratio of the pairs {ratio:.3f}"
        )


def schema_url(admin: str, schema: str) -> str:
    parts = urlsplit(admin)
    query = {**dict(parse_qsl(parts.query)), "search_path": schema}
    return urlunsplit(parts._replace(query=urlencode(query)))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--shape", choices=tuple(SPANS), default="spread")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--path", type=Path, help="SQLite file (default /tmp/signals-bench-...)")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--ingest-seconds", type=float, default=15.0)
    args = parser.parse_args()
    name = f"signals_bench_{args.shape}_{args.events}"
    args.path = args.path or Path(f"/tmp/{name}.db")
    args.url = schema_url(args.admin_url, name)
    print(f"{args.backend}, {args.shape}, {args.events:,} events; {load()}")
    found = -1
    if not args.rebuild:
        # No store yet (no file, no schema): built below.
        with contextlib.suppress(OSError, asyncpg.PostgresError, SignalsError):
            async with opened(args) as store:
                found = await stored_events(store)
    if found == args.events:
        print(f"reusing the store ({found:,} events)")
    else:
        await build(args)
    async with opened(args) as store:
        await queries(store, args.shape, args.events)
        if args.ingest_seconds > 0:
            await ingest(store, args.ingest_seconds, args.shape, args.events)


if __name__ == "__main__":
    asyncio.run(main())
