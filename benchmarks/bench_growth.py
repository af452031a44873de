"""Is ingest flat as the data grows? Server CPU per event and RSS of `signals serve` while
batches fill its store, then the same after a restart on the full store.

Starts `signals serve` pinned to `--server-cpu` on a fresh data dir with the built-in defaults
(fsync always, memory windows, SQLite, an idempotency horizon of 1M ids), and posts batches of
`--batch` realistic events (loadgen.py, closed loop, `--connections`, from `--client-cpu`) in
windows of `--window` seconds until the store holds `--events`. After each window it waits for
the consumer to store everything and prints the events stored so far, the window's events/s,
the server's CPU time per event (utime + stime, all threads, consumer included) and its RSS.
Then it stops the service (SIGTERM), starts it again on the same data dir (the horizon is warmed
from the store: `ingest.dedupe_max_ids` ids) and measures RSS once ready and one more window.

The summary compares the median CPU per event of the first `--compare` windows (an empty store)
with the last ones before the restart, and checks the books: journal lines == SQLite rows ==
events acknowledged 2xx.

    .venv/bin/python benchmarks/bench_growth.py [--events 2000000] [--window 20]
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import loadgen
import uvloop
from bench_ingest import journal_lines, store_rows
from server_process import ServerProcess, free_port


@dataclass
class Window:
    stored: int  # events stored after the window
    events_per_second: float
    cpu_per_event: float  # seconds
    rss: float  # MiB
    anon: float  # MiB of it the process allocated (not file pages mapped)


def start(work: Path, data: Path, args: argparse.Namespace, name: str) -> ServerProcess:
    ingest_port, integrity_port = free_port(), free_port()
    server = ServerProcess(
        name,
        [sys.executable, "-m", "signals", "serve"],
        base_url=f"http://127.0.0.1:{ingest_port}",
        cpu=args.server_cpu,
        log_path=work / f"{name}.log",
        cwd=work,
        env={
            "SIGNALS__DATA_DIR": str(data),
            "SIGNALS__INGEST__PORT": str(ingest_port),
            "SIGNALS__INTEGRITY__PORT": str(integrity_port),
            "SIGNALS__LOGGING__LEVEL": "warning",
        },
    )
    server.wait_ready(timeout=600)
    return server


def settle(server: ServerProcess) -> None:
    """Wait until the consumer has stored every journaled event."""
    while True:
        body = server.ready()
        if body is not None and body["checks"]["consumer"]["backlog"] == 0:
            return
        time.sleep(0.1)


def window(
    server: ServerProcess, requests: list[bytes], stored: int, args: argparse.Namespace
) -> tuple[Window, int]:
    settle(server)
    before = server.cpu_seconds()
    result = uvloop.run(
        loadgen.run(
            server.base_url + "/v1/log/batch",
            requests,
            connections=args.connections,
            duration=args.window,
            events_per_request=args.batch,
        )
    )
    settle(server)
    ok = sum(count for status, count in result.statuses.items() if status < 300)
    events = ok * args.batch
    cpu = (server.cpu_seconds() - before) / max(1, events)
    measured = Window(
        stored + events, result.events_per_second, cpu, server.rss_mib(),
        server.rss_mib("RssAnon"),
    )  # fmt: skip
    return measured, events


def show(label: str, w: Window) -> None:
    print(
        f"| {label} | {w.stored:,} | {w.events_per_second:,.0f} | {w.cpu_per_event * 1e6:.1f}"
        f" | {w.rss:.0f} | {w.anon:.0f} |",
        flush=True,
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000, help="fill the store to this")
    parser.add_argument("--window", type=float, default=20.0, help="seconds per measured window")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--compare", type=int, default=3, help="windows at each end to compare")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    os.sched_setaffinity(0, {args.client_cpu})
    command = shlex.join([".venv/bin/python", "benchmarks/bench_growth.py", *sys.argv[1:]])
    print(f"$ {command}\n(load average {os.getloadavg()[0]:.1f} at start)\n", flush=True)
    requests = loadgen.requests_for("http://127.0.0.1/v1/log/batch", 40, args.batch, seed=17)
    windows: list[Window] = []
    acknowledged = 0
    print(
        "| window | events stored after it | events/s | server CPU µs/event | RSS MiB"
        " | of it anonymous |"
    )
    print("|---|---:|---:|---:|---:|---:|", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-growth-") as temp:
        work = Path(temp)
        data = work / "data"
        server = start(work, data, args, "first")
        print(
            f"| ready (empty store) | 0 | | | {server.rss_mib():.0f}"
            f" | {server.rss_mib('RssAnon'):.0f} |",
            flush=True,
        )
        try:
            while acknowledged < args.events:
                w, events = window(server, requests, acknowledged, args)
                acknowledged += events
                windows.append(w)
                show(str(len(windows)), w)
        finally:
            code, _ = server.stop()
        server = start(work, data, args, "restarted")
        warmed, warmed_anon = server.rss_mib(), server.rss_mib("RssAnon")
        print(
            f"| restarted, ready (horizon warmed) | {acknowledged:,} | | | {warmed:.0f}"
            f" | {warmed_anon:.0f} |"
        )
        try:
            after, events = window(server, requests, acknowledged, args)
            acknowledged += events
            show("after the restart", after)
        finally:
            code_after, _ = server.stop()
        lines = journal_lines(data / "journal")
        rows = store_rows(data / "signals.db")
    first = statistics.median(w.cpu_per_event for w in windows[: args.compare])
    last = statistics.median(w.cpu_per_event for w in windows[-args.compare :])
    print(f"\n$ {command}\n(load average {os.getloadavg()[0]:.1f} at end)")
    print(
        f"server CPU per event, median of {args.compare} windows: empty store {first * 1e6:.1f}"
        f" µs, at {windows[-1].stored:,} stored {last * 1e6:.1f} µs ({last / first:.2f}x);"
        f" after a restart on it {after.cpu_per_event * 1e6:.1f} µs"
    )
    print(
        f"RSS (anonymous): {max(w.rss for w in windows):.0f} ({max(w.anon for w in windows):.0f})"
        f" MiB at most while filling, {warmed:.0f} ({warmed_anon:.0f}) MiB once ready after the"
        f" restart, {after.rss:.0f} ({after.anon:.0f}) MiB after a window on it"
    )
    books = rows == lines == acknowledged and code == 0 and code_after == 0
    print(
        f"books: {acknowledged} events acknowledged 2xx, {lines} journal lines, {rows} SQLite"
        f" rows; exits {code}, {code_after}: {'OK' if books else 'MISMATCH'}"
    )
    return 0 if books else 1


if __name__ == "__main__":
    sys.exit(main())
