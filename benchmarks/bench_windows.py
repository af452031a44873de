"""Window steps per second (memory and Redis backends, batch sizes 1, 100, 1000) and the memory
backend's footprint for 1M distinct users before and after idle eviction.

    .venv/bin/python benchmarks/bench_windows.py [--runs 5] [--events 20000] [--users 1000000]

Redis is `REDIS_URL`, else redis://127.0.0.1:6379/0; its rows are skipped when it does not
answer. Keys go under a fresh prefix and are deleted at the end. Each figure is the median of
`--runs` runs; a step is one event added to its window and counted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable

import redis.asyncio

from signals.integrity.windows.base import WindowEvent, Windows
from signals.integrity.windows.fallback import FallbackWindows
from signals.integrity.windows.memory import MemoryWindows
from signals.integrity.windows.redis import RedisWindows
from signals.metrics import Metrics
from signals.settings import RedisSettings, WindowsSettings

BATCH_SIZES = (1, 100, 1000)
SETTINGS = WindowsSettings(seconds=5.0, ttl_seconds=60, max_keys=5_000_000)
START = 1_767_225_600.0
EVENTS_PER_SECOND = 20_000  # the synthetic arrival rate: sets how full the windows get


def traffic(count: int, users: int, run: int) -> list[WindowEvent]:
    """`count` events from `users` users over 4 signal types, arriving in time order."""
    return [
        WindowEvent(f"user-{n * 7919 % users}", ("message", "login", "error", "click")[n % 4],
                    f"r{run}-e{n}", START + run * 1000 + n / EVENTS_PER_SECOND)
        for n in range(count)
    ]  # fmt: skip


async def steps_per_second(windows: Windows, events: list[WindowEvent], batch: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(events), batch):
        await windows.add(events[start : start + batch])
    return len(events) / (time.perf_counter() - started)


async def measure(
    make: Callable[[], Awaitable[Windows]], events: int, batch: int, runs: int
) -> float:
    rates = []
    for run in range(runs):
        windows = await make()
        try:
            # fewer single-event round trips to Redis: a run stays a few seconds at most
            count = events if batch > 1 else max(events // 4, 1000)
            rates.append(await steps_per_second(windows, traffic(count, 10_000, run), batch))
        finally:
            await windows.aclose()
    return statistics.median(rates)


async def redis_url_answering() -> str | None:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    client = redis.asyncio.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        await client.ping()
    except (redis.RedisError, OSError):
        return None
    finally:
        await client.aclose()
    return url


async def drop_prefix(url: str, prefix: str) -> None:
    client = redis.asyncio.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=5000)]
        for start in range(0, len(keys), 5000):
            await client.delete(*keys[start : start + 5000])
    finally:
        await client.aclose()


async def throughput(events: int, runs: int) -> None:
    url = await redis_url_answering()
    prefix = f"bench-{uuid.uuid4().hex}"

    async def memory() -> Windows:
        return MemoryWindows(SETTINGS)

    client = redis.asyncio.from_url(url or "", socket_timeout=5)  # borrowed by the windows

    async def redis_only() -> Windows:
        return RedisWindows(client, SETTINGS, prefix)

    async def redis_with_fallback() -> Windows:
        primary = RedisWindows(client, SETTINGS, prefix)
        return FallbackWindows(primary, MemoryWindows(SETTINGS), Metrics(), RedisSettings())

    backends: list[tuple[str, Callable[[], Awaitable[Windows]]]] = [("memory", memory)]
    if url:
        backends += [("redis", redis_only), ("redis+fallback", redis_with_fallback)]
    print(f"window steps/s, median of {runs} runs, {events} events per run, 10k users")
    print(f"{'backend':<16}" + "".join(f"{f'batch {size}':>14}" for size in BATCH_SIZES))
    try:
        for name, make in backends:
            rates = [await measure(make, events, size, runs) for size in BATCH_SIZES]
            print(f"{name:<16}" + "".join(f"{rate:>14,.0f}" for rate in rates))
    finally:
        await client.aclose()
        if url:
            await drop_prefix(url, prefix)
    if not url:
        print("redis: not answering at REDIS_URL or 127.0.0.1:6379; its rows are skipped")


async def footprint(users: int) -> None:
    gc.collect()
    tracemalloc.start()
    windows = MemoryWindows(SETTINGS)
    events = (
        WindowEvent(f"user-{n}", "message", f"01J{n:023d}", START + n / EVENTS_PER_SECOND)
        for n in range(users)
    )
    batch: list[WindowEvent] = []
    for event in events:
        batch.append(event)
        if len(batch) == 1000:
            await windows.add(batch)
            batch = []
    await windows.add(batch)
    gc.collect()
    held_keys, before = windows.key_count, tracemalloc.get_traced_memory()[0]
    last = START + users / EVENTS_PER_SECOND + SETTINGS.ttl_seconds + 1
    started = time.perf_counter()
    await windows.add([WindowEvent("late", "message", "x", last)])  # everyone else is idle now
    batch_sweep = time.perf_counter() - started
    after_one_batch = windows.key_count
    started = time.perf_counter()
    windows.evict_idle()
    full_sweep = time.perf_counter() - started
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    print(f"\nmemory backend, {users:,} distinct users (one event each; ids and keys included)")
    print(f"  before eviction: {held_keys:>9,} keys  {before / 2**20:8.1f} MiB"
          f"  ({before / held_keys:.0f} B/key)")  # fmt: skip
    print(f"  after eviction:  {windows.key_count:>9,} keys  {after / 2**20:8.1f} MiB")
    print(
        f"  one batch after the quiet spell evicted {held_keys + 1 - after_one_batch:,} keys"
        f" in {batch_sweep * 1000:.1f} ms; evict_idle() took the rest in {full_sweep:.2f} s"
    )
    print("  (times under tracemalloc, which slows allocation several times)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    args = parser.parse_args()
    await throughput(args.events, args.runs)
    if args.users:
        await footprint(args.users)


if __name__ == "__main__":
    asyncio.run(main())
