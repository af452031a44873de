"""Server CPU time per event of `signals serve`, beside the bare Starlette + uvicorn ceiling with
and without group-commit fsync, measured in one run.

One run starts three servers as subprocesses pinned to `--server-cpu`: the bare app (decode,
answer), the bare app with group commit (`bare_app.py --journal`: each body fsynced before its
answer, the reference for a service that acknowledges after fsync), and `signals serve` on a
fresh data dir with default settings (fsync always, memory windows, SQLite). It pins itself and
its load generators to `--client-cpu`, and measures, alternating the servers so background
noise hits them alike, `--repeats` times each:

- server CPU time per event, the headline: utime + stime over each run, for signals until its
  consumer has stored everything (so journal, queue, windows and SQLite all count);
- single events, closed loop (wrk, a C client that is never the bottleneck; loadgen.py with
  `--client python`; `--connections`): peak req/s, p50, p99;
- batches of `--batch` events, closed loop (loadgen.py, `--batch-connections`: a handful of
  requests per second, prebuilt bodies): events/s, p50, p99;
- single events, open loop at half of that server's median peak (loadgen.py, which reports how
  busy it was): p50, p99, measured from each request's scheduled send time;

then a `--sustain` seconds closed-loop run on signals with RSS sampled every 5 s. Medians are
printed as a markdown table with signals over the group-commit app. Finally signals is stopped
with SIGTERM and the books are checked: journal lines == SQLite rows, and journal lines == 2xx
answers, give or take the requests wrk drops in flight when it stops (at most one per connection
per wrk run; the server journals them but wrk never reads the answer); exactly with `--client
python`, which waits for every answer. Exit status 1 when they disagree.

    .venv/bin/python benchmarks/bench_ingest.py [--duration 8] [--repeats 3] [--sustain 60]

The machine is shared and noisy: quote the ratios and CPU per event, which noise moves least.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shlex
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import loadgen
import uvloop
from server_process import ServerProcess, free_port
from wrk import run_wrk

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Sample:
    rps: float
    events_per_second: float
    p50: float  # seconds
    p99: float
    cpu_per_event: float  # server CPU seconds per acknowledged event
    ok: int  # requests answered 2xx
    other: int  # requests answered otherwise
    errors: int  # connection errors and timeouts
    batch: int = 1  # events per request
    seconds: float = 0.0
    unfinished: int = 0  # open loop: scheduled but never answered
    client_busy: float = 0.0  # share of the client CPU the Python generator used
    offered: float = 0.0  # open loop: the scheduled req/s

    @property
    def behind(self) -> bool:
        """Open loop: the server answered under 95% of the schedule, so it was overloaded."""
        return self.offered > 0 and self.rps < 0.95 * self.offered


class Target:
    """One server under test and its books."""

    def __init__(self, label: str, server: ServerProcess, *, has_consumer: bool) -> None:
        self.label = label
        self.server = server
        self.has_consumer = has_consumer
        self.samples: defaultdict[str, list[Sample]] = defaultdict(list)
        self.acknowledged = 0  # events answered 2xx
        self.dropped_bound = 0  # events wrk may have left in flight
        self.rss_at_start = 0.0  # MiB, once ready

    def settle(self, timeout: float = 180.0) -> float:
        """Wait until the consumer has stored every journaled event; return the seconds taken."""
        if not self.has_consumer:
            return 0.0
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            body = self.server.ready()
            if body is not None and body["checks"]["consumer"]["backlog"] == 0:
                return time.monotonic() - started
            time.sleep(0.1)
        raise RuntimeError(f"{self.label}: consumer did not catch up within {timeout} s")


def measured(target: Target, run: Callable[[], Sample]) -> Sample:
    target.settle()
    before = target.server.cpu_seconds()
    sample = run()
    target.settle()
    events = sample.ok * sample.batch
    sample.cpu_per_event = (target.server.cpu_seconds() - before) / max(1, events)
    return sample


def wrk_sample(target: Target, connections: int, duration: float, cpu: int) -> Sample:
    """Single events, closed loop, with wrk."""

    def run() -> Sample:
        result = run_wrk(
            target.server.base_url + "/v1/log", connections=connections, duration=duration, cpu=cpu
        )
        target.acknowledged += result.ok
        target.dropped_bound += connections
        return Sample(
            result.rps, result.events_per_second, result.p50, result.p99, 0.0,
            result.ok, result.other, result.errors, 1, result.seconds,
        )  # fmt: skip

    return measured(target, run)


def loadgen_sample(
    target: Target,
    path: str,
    requests: list[bytes],
    *,
    connections: int,
    duration: float,
    batch: int = 1,
    rate: float | None = None,
) -> Sample:
    def run() -> Sample:
        result = uvloop.run(
            loadgen.run(
                target.server.base_url + path,
                requests,
                connections=connections,
                duration=duration,
                rate=rate,
                events_per_request=batch,
            )
        )
        ok = sum(count for status, count in result.statuses.items() if status < 300)
        target.acknowledged += ok * batch
        return Sample(
            result.rps, result.events_per_second, result.percentile(50), result.percentile(99),
            0.0, ok, result.completed - ok, result.errors, batch, result.elapsed,
            result.unfinished, result.client_cpu / result.elapsed, rate or 0.0,
        )  # fmt: skip

    return measured(target, run)


def journal_lines(journal: Path) -> int:
    lines = 0
    for path in sorted(journal.glob("segment-*.jsonl*")):
        if path.name.endswith(".jsonl") and path.with_name(path.name + ".gz").exists():
            continue  # a compressed copy exists: count that one
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as segment:
            while chunk := segment.read(1 << 20):
                lines += chunk.count(b"\n")
    return lines


def store_rows(database: Path) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        (rows,) = connection.execute("SELECT count(*) FROM events").fetchone()
    return int(rows)


def sustained(
    target: Target, seconds: float, peak: Callable[[Target, float], Sample]
) -> list[tuple[float, float, float]]:
    """RSS (s, MiB) every 5 s during a closed-loop single-event run of `seconds`."""
    target.settle()
    samples = [(0.0, target.server.rss_mib(), target.server.rss_mib("RssAnon"))]
    result: list[Sample] = []
    worker = threading.Thread(target=lambda: result.append(peak(target, seconds)))
    started = time.monotonic()
    worker.start()
    while worker.is_alive():
        worker.join(5.0)
        anon = target.server.rss_mib("RssAnon")
        samples.append((time.monotonic() - started, target.server.rss_mib(), anon))
    target.samples["sustained"].extend(result)
    return samples


def median(samples: list[Sample], field: str) -> float:
    return float(statistics.median(getattr(sample, field) for sample in samples))


def report(targets: list[Target], rss: list[tuple[float, float, float]], repeats: int) -> str:
    """The medians side by side; the last column is signals over the group-commit app, the
    reference with the same fsync per acknowledged request."""
    bare, durable, real = targets
    ms, us = 1e3, 1e6

    def line(name: str, kind: str, field: str, fmt: str, scale: float = 1.0) -> str:
        values = [median(t.samples[kind], field) * scale for t in targets]
        ratio = values[2] / values[1] if values[1] else float("nan")
        cells = " | ".join(f"{value:{fmt}}" for value in values)
        return f"| {name} | {cells} | {ratio:.2f} |"

    def latency(name: str, kind: str, fmt: str) -> str:
        pairs = [[median(t.samples[kind], p) * ms for p in ("p50", "p99")] for t in targets]
        cells = " | ".join(f"{p50:{fmt}} / {p99:{fmt}}" for p50, p99 in pairs)
        return f"| {name} | {cells} | |"

    batch = round(median(real.samples["batch"], "batch"))
    lines = [
        f"| measurement (median of {repeats}) | bare app | bare + group commit | signals "
        "| signals / group commit |",
        "|---|---:|---:|---:|---:|",
        line("**server CPU µs per event, single events**", "single", "cpu_per_event", ".0f", us),
        line(f"**server CPU µs per event, batches of {batch}**", "batch", "cpu_per_event", ".1f",
             us),
        line("single events, closed loop (wrk): req/s", "single", "rps", ",.0f"),
        latency("&nbsp; p50 / p99 ms at peak", "single", ".1f"),
        line(f"batches of {batch}: events/s", "batch", "events_per_second", ",.0f"),
        latency("&nbsp; p50 / p99 ms per batch", "batch", ".0f"),
        line("open loop at half each peak: req/s offered", "open", "offered", ",.0f"),
        latency("&nbsp; p50 / p99 ms from scheduled send", "open", ".1f"),
        line("&nbsp; server CPU µs per event", "open", "cpu_per_event", ".0f", us),
    ]  # fmt: skip
    for target in targets:
        behind = sum(sample.behind for sample in target.samples["open"])
        if behind:
            lines.append(
                f"| &nbsp; **{target.label} fell behind the schedule in {behind} of"
                f" {len(target.samples['open'])} open-loop runs** (overloaded: its peak dropped"
                " since it was measured) | | | | |"
            )
    if rss:
        sustain = real.samples["sustained"][0]
        peak = max(mib for _, mib, _ in rss)
        lines += [
            f"| sustained {sustain.seconds:.0f} s closed loop: req/s | | | {sustain.rps:,.0f} | |",
            f"| &nbsp; RSS MiB once ready; sustained start -> end (max) | {bare.rss_at_start:.0f}"
            f" | {durable.rss_at_start:.0f} | {real.rss_at_start:.0f}; {rss[0][1]:.0f} ->"
            f" {rss[-1][1]:.0f} ({peak:.0f}); anonymous {rss[0][2]:.0f} -> {rss[-1][2]:.0f} | |",
        ]
    return "\n".join(lines)


def detail(target: Target) -> None:
    for kind, samples in target.samples.items():
        for sample in samples:
            busy = f"  generator busy {sample.client_busy:.0%}" if sample.client_busy else ""
            busy += f"  offered {sample.offered:,.0f}/s" if sample.offered else ""
            busy += "  BEHIND SCHEDULE" if sample.behind else ""
            print(
                f"  {target.label:7} {kind:9} {sample.rps:8,.0f} req/s"
                f" {sample.events_per_second:9,.0f} ev/s  p50 {sample.p50 * 1e3:6.1f} ms"
                f"  p99 {sample.p99 * 1e3:6.1f} ms  cpu {sample.cpu_per_event * 1e6:6.1f} us/ev"
                f"  2xx {sample.ok} other {sample.other} errors {sample.errors}"
                f" unfinished {sample.unfinished}{busy}"
            )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measured run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--sustain", type=float, default=60.0, help="0 skips the sustained run")
    parser.add_argument("--connections", type=int, default=64, help="single-event connections")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--batch-connections", type=int, default=4)
    parser.add_argument(
        "--client",
        choices=["wrk", "python"],
        default="wrk" if shutil.which("wrk") else "python",
        help="closed-loop single-event generator (default wrk when installed)",
    )
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    return parser.parse_args()


def start_targets(work: Path, data: Path, args: argparse.Namespace) -> list[Target]:
    """The bare app, the bare app with group commit, and signals, each on its own port."""
    bare_app = str(ROOT / "benchmarks" / "bare_app.py")
    targets = []
    for label, extra in (("bare", []), ("fsync", ["--journal", str(work / "bare.jsonl")])):
        port = free_port()
        server = ServerProcess(
            f"bare app {' '.join(extra)}".strip(),
            [sys.executable, bare_app, "--port", str(port), *extra],
            base_url=f"http://127.0.0.1:{port}",
            cpu=args.server_cpu,
            log_path=work / f"{label}.log",
        )
        targets.append(Target(label, server, has_consumer=False))
    ingest_port, integrity_port = free_port(), free_port()
    real = ServerProcess(
        "signals serve",
        [sys.executable, "-m", "signals", "serve"],
        base_url=f"http://127.0.0.1:{ingest_port}",
        cpu=args.server_cpu,
        log_path=work / "signals.log",
        cwd=work,  # no settings.toml here: the built-in defaults
        env={
            "SIGNALS__DATA_DIR": str(data),
            "SIGNALS__INGEST__PORT": str(ingest_port),
            "SIGNALS__INTEGRITY__PORT": str(integrity_port),
            "SIGNALS__LOGGING__LEVEL": "warning",
        },
    )
    return [*targets, Target("signals", real, has_consumer=True)]


def measure(targets: list[Target], args: argparse.Namespace) -> list[tuple[float, float, float]]:
    """Every measured run, alternating the targets; returns the sustained run's RSS samples."""
    single = loadgen.requests_for("http://127.0.0.1/v1/log", 20_000, 1, seed=11)
    batches = loadgen.requests_for("http://127.0.0.1/v1/log/batch", 40, args.batch, seed=13)

    def batch(target: Target, duration: float) -> Sample:
        return loadgen_sample(
            target, "/v1/log/batch", batches, connections=args.batch_connections,
            duration=duration, batch=args.batch,
        )  # fmt: skip

    def peak(target: Target, duration: float) -> Sample:
        if args.client == "wrk":
            return wrk_sample(target, args.connections, duration, args.client_cpu)
        return loadgen_sample(
            target, "/v1/log", single, connections=args.connections, duration=duration
        )

    for target in targets:
        target.server.wait_ready()
        target.rss_at_start = target.server.rss_mib()
    for target in targets:
        peak(target, args.warmup)
        batch(target, args.warmup)
    for number in range(args.repeats):
        print(f"closed loop {number + 1}/{args.repeats}", flush=True)
        for target in targets:
            target.samples["single"].append(peak(target, args.duration))
        for target in targets:
            target.samples["batch"].append(batch(target, args.duration))
    rates = [median(target.samples["single"], "rps") / 2 for target in targets]
    for number in range(args.repeats):
        print(f"open loop {number + 1}/{args.repeats}", flush=True)
        for target, rate in zip(targets, rates, strict=True):
            sample = loadgen_sample(
                target, "/v1/log", single, connections=args.connections,
                duration=args.duration, rate=rate,
            )  # fmt: skip
            target.samples["open"].append(sample)
    if args.sustain <= 0:
        return []
    print(f"sustained {args.sustain:g} s", flush=True)
    return sustained(targets[-1], args.sustain, peak)


def main() -> int:
    args = parse_args()
    os.sched_setaffinity(0, {args.client_cpu})
    command = shlex.join([".venv/bin/python", "benchmarks/bench_ingest.py", *sys.argv[1:]])
    load_start = os.getloadavg()
    print(f"$ {command}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as temp:
        work = Path(temp)
        data = work / "data"
        targets = start_targets(work, data, args)
        real = targets[-1]
        try:
            rss = measure(targets, args)
            settle_seconds = real.settle()
        finally:
            for target in targets[:-1]:
                target.server.stop()
            code, shutdown_seconds = real.server.stop()
        lines = journal_lines(data / "journal")
        rows = store_rows(data / "signals.db")
    print("\nper run:")
    for target in targets:
        detail(target)
    if rss:
        print(
            "RSS MiB (anonymous) in the sustained run: "
            + ", ".join(f"{t:.0f}s {m:.0f} ({a:.0f})" for t, m, a in rss)
        )
    print(f"\n$ {command}")
    print(f"(load average {load_start[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end)\n")
    print(report(targets, rss, args.repeats))
    acknowledged, bound = real.acknowledged, real.dropped_bound
    books_ok = rows == lines and acknowledged <= lines <= acknowledged + bound
    print(
        f"\nbooks: {acknowledged} events acknowledged 2xx, {lines} journal lines (wrk may"
        f" leave up to {bound} unanswered in flight), {rows} SQLite rows; consumer"
        f" caught up {settle_seconds:.1f} s after the last run; SIGTERM -> exit {code} in"
        f" {shutdown_seconds:.1f} s: {'OK' if books_ok and code == 0 else 'MISMATCH'}"
    )
    return 0 if books_ok and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
