"""Anomaly latency end to end: from the POST of the crossing event to the episode in the API.

    .venv/bin/python benchmarks/bench_anomaly.py [--bursts 30] [--threshold 5] [--poll-ms 5]
                                                 [--background 0,500] [--backends memory,redis]

For each windows backend and background rate, one `signals serve` subprocess (pinned to
`--server-cpu`; this client runs on `--client-cpu`) with `thresholds.default = --threshold` and
the shipped 5 s window. Each burst is a fresh user: T events in one batch, waited for until they
are stored (so the window holds T), then the crossing event is POSTed to `/v1/log` and
`GET /v1/anomalies/{user}` (integrity port) is polled every `--poll-ms` until the episode shows.
A sample is the time from just before that POST to the first answer that holds the episode; the
POST's own latency (its journal fsync) is reported beside it, so the consumer's share shows.
Background traffic, when asked for, is batches of 50 events from 1000 other users at that rate.

Redis is `REDIS_URL`, else a private `redis-server` from PATH on a free port; without either the
Redis rows are skipped. Each run uses a fresh key prefix and deletes its keys.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import redis.asyncio
from server_process import ServerProcess, free_port

BACKGROUND_BATCH = 50


@dataclass
class Row:
    backend: str
    background: int
    visible_ms: list[float]
    post_ms: list[float]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_for_bench() -> Iterator[str | None]:
    """`REDIS_URL`, else a private redis-server for the run, else None."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    executable = shutil.which("redis-server")
    if executable is None:
        yield None
        return
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as workdir:
        server = subprocess.Popen(
            [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while not answers_ping(port):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("private redis-server did not start")
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.kill()
            server.wait()


@contextlib.contextmanager
def service(work: Path, backend: str, redis_url: str | None, args: argparse.Namespace,
            prefix: str) -> Iterator[tuple[str, str]]:  # fmt: skip
    ingest_port, integrity_port = free_port(), free_port()
    env = {
        "SIGNALS__DATA_DIR": str(work / "data"),
        "SIGNALS__INGEST__PORT": str(ingest_port),
        "SIGNALS__INTEGRITY__PORT": str(integrity_port),
        "SIGNALS__LOGGING__LEVEL": "warning",
        "SIGNALS__THRESHOLDS__DEFAULT": str(args.threshold),
        "SIGNALS__WINDOWS__BACKEND": backend,
    }
    if backend == "redis" and redis_url:
        env |= {"SIGNALS__REDIS__URL": redis_url, "SIGNALS__REDIS__KEY_PREFIX": prefix}
    server = ServerProcess(
        f"signals serve ({backend})",
        [sys.executable, "-m", "signals", "serve"],
        base_url=f"http://127.0.0.1:{ingest_port}",
        cpu=args.server_cpu,
        log_path=work / "signals.log",
        cwd=work,  # no settings.toml here: the built-in defaults and the overrides above
        env=env,
    )
    try:
        server.wait_ready()
        yield f"http://127.0.0.1:{ingest_port}", f"http://127.0.0.1:{integrity_port}"
    finally:
        code, _ = server.stop()
        if code != 0:
            print(f"warning: signals exited with {code}:\n{server.log_tail()}")


async def background(ingest: httpx.AsyncClient, rate: int, stop: asyncio.Event) -> int:
    """Batches of BACKGROUND_BATCH events at `rate` events/s until `stop`; returns how many."""
    interval = BACKGROUND_BATCH / rate
    sent = 0
    next_at = time.monotonic()
    while not stop.is_set():
        events = [{"user_id": f"bg-{(sent + n) % 1000}", "signal_type": "chat",
                   "text": "where is my order?"} for n in range(BACKGROUND_BATCH)]  # fmt: skip
        response = await ingest.post("/v1/log/batch", json=events)
        response.raise_for_status()
        sent += BACKGROUND_BATCH
        next_at += interval
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, next_at - time.monotonic()))
    return sent


async def stored(ingest: httpx.AsyncClient, user: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        page = (await ingest.get("/v1/signals", params={"user_id": user, "limit": "1000"})).json()
        if len(page["items"]) >= count:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{user}'s events not stored within 30 s")
        await asyncio.sleep(0.005)


async def one_burst(
    ingest: httpx.AsyncClient, integrity: httpx.AsyncClient, user: str, args: argparse.Namespace
) -> tuple[float, float]:
    """(visible ms, POST ms) for one user's crossing event."""
    quiet = [{"user_id": user, "signal_type": "chat"} for _ in range(args.threshold)]
    (await ingest.post("/v1/log/batch", json=quiet)).raise_for_status()
    await stored(ingest, user, args.threshold)
    path = "/v1/anomalies/" + quote(user, safe="")
    started = time.perf_counter()
    response = await ingest.post("/v1/log", json={"user_id": user, "signal_type": "chat"})
    posted = time.perf_counter()
    response.raise_for_status()
    deadline = posted + 30
    while not (await integrity.get(path)).json()["items"]:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"no anomaly for {user} within 30 s")
        await asyncio.sleep(args.poll_ms / 1000)
    return (time.perf_counter() - started) * 1000, (posted - started) * 1000


async def measure(ingest_url: str, integrity_url: str, backend: str, rate: int,
                  args: argparse.Namespace) -> Row:  # fmt: skip
    row = Row(backend, rate, [], [])
    async with (
        httpx.AsyncClient(base_url=ingest_url, timeout=30) as ingest,
        httpx.AsyncClient(base_url=ingest_url, timeout=30) as load,
        httpx.AsyncClient(base_url=integrity_url, timeout=30) as integrity,
    ):
        stop = asyncio.Event()
        traffic = asyncio.create_task(background(load, rate, stop)) if rate else None
        try:
            await one_burst(ingest, integrity, f"warmup-{uuid.uuid4().hex}", args)
            for number in range(args.bursts):
                visible, post = await one_burst(ingest, integrity, f"burst-{number}", args)
                row.visible_ms.append(visible)
                row.post_ms.append(post)
        finally:
            stop.set()
            if traffic is not None:
                await traffic
    return row


@contextlib.asynccontextmanager
async def keys_dropped(url: str | None, prefix: str) -> AsyncIterator[None]:
    try:
        yield
    finally:
        if url:
            client = redis.asyncio.from_url(url)
            try:
                keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
                if keys:
                    await client.delete(*keys)
            finally:
                await client.aclose()


async def run(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    with redis_for_bench() as redis_url:
        for backend in args.backends.split(","):
            if backend == "redis" and redis_url is None:
                print("redis: no REDIS_URL and no redis-server on PATH; skipped")
                continue
            for rate in (int(value) for value in args.background.split(",")):
                prefix = f"bench-anomaly-{uuid.uuid4().hex}"
                with (
                    tempfile.TemporaryDirectory(prefix="bench-anomaly-") as temp,
                    service(Path(temp), backend, redis_url, args, prefix) as (ingest, integrity),
                ):
                    async with keys_dropped(redis_url if backend == "redis" else None, prefix):
                        rows.append(await measure(ingest, integrity, backend, rate, args))
                print(f"  {backend}, {rate} ev/s background: done", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bursts", type=int, default=30)
    parser.add_argument("--threshold", type=int, default=5)
    parser.add_argument("--poll-ms", type=float, default=5.0)
    parser.add_argument("--background", default="0,500", help="events/s, comma-separated")
    parser.add_argument("--backends", default="memory,redis")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.client_cpu})
    command = shlex.join([".venv/bin/python", "benchmarks/bench_anomaly.py", *sys.argv[1:]])
    print(f"$ {command}\nload average at start: {os.getloadavg()}", flush=True)
    rows = asyncio.run(run(args))
    print(f"\n{args.bursts} bursts each, threshold {args.threshold}, polling every "
          f"{args.poll_ms:g} ms; times from the crossing POST, in ms\n")  # fmt: skip
    header = f"{'backend':<8} {'background':>10}  {'visible p50':>11} {'p95':>7} {'max':>7}"
    print(header + f"  {'POST p50':>8} {'p95':>7}")
    for row in rows:
        print(
            f"{row.backend:<8} {f'{row.background} ev/s':>10}  "
            f"{statistics.median(row.visible_ms):>11.1f} {percentile(row.visible_ms, 0.95):>7.1f} "
            f"{max(row.visible_ms):>7.1f}  {statistics.median(row.post_ms):>8.1f} "
            f"{percentile(row.post_ms, 0.95):>7.1f}"
        )
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
