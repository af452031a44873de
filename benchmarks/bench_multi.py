"""Several instances: ingest throughput and anomaly latency, SQLite and PostgreSQL side by side.

    .venv/bin/python benchmarks/bench_multi.py [--duration 10] [--connections 8] [--bursts 20]
                                               [--setups sqlite-1,postgres-1,postgres-2]

Each setup is `signals serve` processes with Redis windows (so episodes are shared) and:
- `sqlite-1`: one instance, its SQLite store (the embedded default store, for reference);
- `postgres-1`: one instance, the PostgreSQL store;
- `postgres-2`: two instances on one PostgreSQL database and one Redis, the load split evenly
  between them as a round-robin load balancer would.

Instance n is pinned to CPU n (`taskset`), this client to `--client-cpu`; Redis and PostgreSQL
run unpinned. On a 2-core machine the second instance shares its core with the client and both
servers, so `postgres-2` shows what sharing costs here, not how far more machines would scale.

Rows:
- ingest: batches of 1000 events (`loadgen.py`, closed loop, `--connections` in all) for
  `--duration` s. `acked/s` counts 202s (journaled and fsynced); `stored/s` is the same events
  over the time until every one of them is in the store, counted through `/v1/stats`, so it is
  the rate the whole pipeline sustains (windows, shared episodes, store transactions);
- anomaly: `--bursts` fresh users; T quiet events spread over the instances, waited for until
  stored, then the crossing event POSTed to the last instance while `/v1/anomalies/{user}` is
  polled on the first: from that POST to the episode visible, across instances when two.

PostgreSQL: a fresh database on the server `SIGNALS_BENCH_POSTGRES` names (default
postgresql://postgres@127.0.0.1:5432/postgres), dropped at the end. Redis: `REDIS_URL`, else a
private redis-server. Each setup uses its own database and key prefix.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import httpx
import loadgen
import uvloop
from bench_anomaly import keys_dropped, percentile, redis_for_bench
from server_process import ServerProcess, free_port

ADMIN_URL = os.environ.get(
    "SIGNALS_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BATCH = 1000
THRESHOLD = 5


@dataclass
class Row:
    setup: str
    acked_per_s: float
    stored_per_s: float
    p50_ms: float
    p99_ms: float
    visible_ms: list[float]


@dataclass
class Instance:
    server: ServerProcess
    ingest: str
    integrity: str


@contextlib.asynccontextmanager
async def database() -> AsyncIterator[str]:
    name = f"signals_bench_{uuid.uuid4().hex}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{name}"))
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@contextlib.contextmanager
def instances(
    work: Path, count: int, env: dict[str, str], first_cpu: int
) -> Iterator[list[Instance]]:
    started: list[Instance] = []
    try:
        for n in range(count):
            ingest_port, integrity_port = free_port(), free_port()
            data = work / f"instance-{n}"
            data.mkdir()
            server = ServerProcess(
                f"signals serve #{n}",
                [sys.executable, "-m", "signals", "serve"],
                base_url=f"http://127.0.0.1:{ingest_port}",
                cpu=first_cpu + n,
                log_path=data / "signals.log",
                cwd=data,
                env={
                    **env,
                    "SIGNALS__DATA_DIR": str(data / "data"),
                    "SIGNALS__INGEST__PORT": str(ingest_port),
                    "SIGNALS__INTEGRITY__PORT": str(integrity_port),
                },
            )
            started.append(Instance(server, server.base_url, f"http://127.0.0.1:{integrity_port}"))
        for instance in started:
            instance.server.wait_ready()
        yield started
    finally:
        for instance in started:
            code, _ = instance.server.stop()
            if code != 0:
                print(f"warning: {instance.server.name} exited with {code}")


async def stored_total(client: httpx.AsyncClient) -> int:
    stats = (await client.get("/v1/stats", params={"range": "1h"})).json()
    return int(sum(stats["by_sentiment"].values()))


async def ingest(targets: list[Instance], args: argparse.Namespace) -> tuple[float, ...]:
    """(acked events/s, stored events/s, batch p50 ms, batch p99 ms)."""
    per = max(1, args.connections // len(targets))
    async with httpx.AsyncClient(base_url=targets[0].ingest, timeout=60) as reader:
        before = await stored_total(reader)
        started = time.perf_counter()
        results = await asyncio.gather(
            *(
                loadgen.run(
                    target.ingest + "/v1/log/batch",
                    loadgen.requests_for(target.ingest + "/v1/log/batch", 20, BATCH, 7 + n),
                    connections=per,
                    duration=args.duration,
                    events_per_request=BATCH,
                )
                for n, target in enumerate(targets)
            )
        )
        acked = sum(r.statuses.get(202, 0) for r in results) * BATCH
        deadline = time.monotonic() + 300
        while await stored_total(reader) < before + acked:
            if time.monotonic() > deadline:
                raise RuntimeError("the store did not catch up within 300 s")
            await asyncio.sleep(0.05)
        drained = time.perf_counter() - started
    latencies = sorted(latency for r in results for latency in r.latencies)
    return (
        sum(r.events_per_second for r in results),
        acked / drained,
        statistics.median(latencies) * 1000,
        latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000,
    )


async def bursts(targets: list[Instance], args: argparse.Namespace) -> list[float]:
    clients = [httpx.AsyncClient(base_url=t.ingest, timeout=30) for t in targets]
    watcher = httpx.AsyncClient(base_url=targets[0].integrity, timeout=30)
    samples: list[float] = []
    try:
        for number in range(args.bursts + 1):  # the first one warms up
            user = f"burst-{number}-{uuid.uuid4().hex[:6]}"
            for n in range(THRESHOLD):
                client = clients[n % len(clients)]
                (await client.post("/v1/log", json={"user_id": user, "signal_type": "chat"}))
            while True:  # stored everywhere, hence counted in Redis
                page = (await clients[0].get("/v1/signals", params={"user_id": user})).json()
                if len(page["items"]) >= THRESHOLD:
                    break
                await asyncio.sleep(0.005)
            path = "/v1/anomalies/" + quote(user, safe="")
            started = time.perf_counter()
            crossing = {"user_id": user, "signal_type": "chat"}
            (await clients[-1].post("/v1/log", json=crossing)).raise_for_status()
            while not (await watcher.get(path)).json()["items"]:
                if time.perf_counter() - started > 30:
                    raise RuntimeError(f"no anomaly for {user} within 30 s")
                await asyncio.sleep(args.poll_ms / 1000)
            if number:
                samples.append((time.perf_counter() - started) * 1000)
    finally:
        for client in [*clients, watcher]:
            await client.aclose()
    return samples


async def measure(setup: str, redis_url: str, args: argparse.Namespace) -> Row:
    backend, count = setup.rsplit("-", 1)
    prefix = f"bench-multi-{uuid.uuid4().hex}"
    env = {
        "SIGNALS__LOGGING__LEVEL": "warning",
        "SIGNALS__THRESHOLDS__DEFAULT": str(THRESHOLD),
        "SIGNALS__WINDOWS__BACKEND": "redis",
        "SIGNALS__REDIS__URL": redis_url,
        "SIGNALS__REDIS__KEY_PREFIX": prefix,
    }
    async with contextlib.AsyncExitStack() as stack:
        if backend == "postgres":
            url = await stack.enter_async_context(database())
            env |= {"SIGNALS__STORE__BACKEND": "postgres", "SIGNALS__STORE__URL": url}
        await stack.enter_async_context(keys_dropped(redis_url, prefix))
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-multi-")))
        targets = stack.enter_context(instances(work, int(count), env, args.server_cpu))
        acked, stored, p50, p99 = await ingest(targets, args)
        visible = await bursts(targets, args)
    return Row(setup, acked, stored, p50, p99, visible)


async def run(args: argparse.Namespace) -> list[Row]:
    rows = []
    with redis_for_bench() as redis_url:
        if redis_url is None:
            raise SystemExit("needs Redis: set REDIS_URL or install redis-server")
        for setup in args.setups.split(","):
            rows.append(await measure(setup, redis_url, args))
            print(f"  {setup}: done", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--bursts", type=int, default=20)
    parser.add_argument("--poll-ms", type=float, default=5.0)
    parser.add_argument("--setups", default="sqlite-1,postgres-1,postgres-2")
    parser.add_argument("--server-cpu", type=int, default=0, help="the first instance's CPU")
    parser.add_argument("--client-cpu", type=int, default=1)
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.client_cpu})
    command = shlex.join([".venv/bin/python", "benchmarks/bench_multi.py", *sys.argv[1:]])
    print(f"$ {command}\nload average at start: {os.getloadavg()}", flush=True)
    rows = uvloop.run(run(args))
    print(f"\nbatches of {BATCH}, {args.connections} connections, {args.duration:g} s; "
          f"{args.bursts} bursts, threshold {THRESHOLD}\n")  # fmt: skip
    print(
        f"{'setup':<11} {'acked/s':>9} {'stored/s':>9} {'batch p50':>9} {'p99':>7}"
        f"  {'anomaly p50':>11} {'p95':>7} {'max':>7}  (ms)"
    )
    for row in rows:
        print(
            f"{row.setup:<11} {row.acked_per_s:>9,.0f} {row.stored_per_s:>9,.0f} "
            f"{row.p50_ms:>9.1f} {row.p99_ms:>7.1f}  {statistics.median(row.visible_ms):>11.1f} "
            f"{percentile(row.visible_ms, 0.95):>7.1f} {max(row.visible_ms):>7.1f}"
        )
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
