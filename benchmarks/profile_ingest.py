"""Where `signals serve` spends its CPU under load: py-spy samples grouped by pipeline stage.

Starts the service like `bench_ingest.py` does (fresh data dir, default settings, pinned to
`--server-cpu`), drives single events with wrk or batches with loadgen.py from `--client-cpu`,
samples every thread with py-spy for `--seconds`, and prints the share of busy samples per
stage (classifier, ids, idempotency, pipeline, consumer and SQLite, journal, middleware, the
uvicorn/Starlette stack) and the functions with the most self time. Samples of threads waiting
on their work queue are left out. `--raw PATH` keeps the collapsed stacks for a flame graph.

Needs py-spy, which is not a project dependency: `.venv/bin/pip install py-spy`.

    .venv/bin/python benchmarks/profile_ingest.py [--mode single|batch] [--seconds 20]
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import loadgen
import uvloop
from server_process import ServerProcess, free_port
from wrk import run_wrk

_WAITS = ("aiosqlite/core.py:59)", "concurrent/futures/thread.py:81)")  # queue waits, not work


def _leaf_in(stack: str, *paths: str) -> bool:
    leaf = stack.rsplit(";", 1)[-1]
    return any(path in leaf for path in paths)


# First match wins, so specific stages come before the stages that contain them.
STAGES: list[tuple[str, Callable[[str], bool]]] = [
    ("sentiment classifier", lambda s: "Classifier.classify" in s),
    ("event ids (ULID) and request ids (uuid4)", lambda s: "next_id" in s or "new_request_id" in s),
    ("idempotency index", lambda s: "IdempotencyIndex" in s),
    ("prometheus metrics", lambda s: "prometheus_client" in s),
    ("intake: body, decode, record, response", lambda s: "Intake." in s and "Pipeline" not in s),
    ("pipeline: accept, futures, settle", lambda s: "Pipeline" in s),
    ("consumer: windows and episodes", lambda s: "Detection" in s or "windows" in s),
    ("consumer: SQLite (event loop + worker thread)", lambda s: "Consumer" in s or "sqlite" in s),
    ("journal (writer task + thread)", lambda s: "Journal" in s or "journal" in s),
    ("signals middleware (own time)", lambda s: _leaf_in(s, "signals/http.py", "signals/auth/")),
    ("uvicorn, Starlette, uvloop, structlog contextvars", lambda s: True),
]


def stage_shares(raw: Path) -> tuple[dict[str, float], list[tuple[str, float]]]:
    stages: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack.endswith(_WAITS):
            continue
        name = next(name for name, matches in STAGES if matches(stack))
        stages[name] += int(count)
        leaf = stack.rsplit(";", 1)[-1]
        leaves[leaf.split(" (")[0] + " (" + leaf.rsplit("/", 1)[-1].split(":")[0] + ")"] += int(
            count
        )
    busy = sum(stages.values()) or 1
    shares = {name: stages[name] / busy for name, _ in STAGES}
    return shares, [(leaf, count / busy) for leaf, count in leaves.most_common(15)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["single", "batch"], default="single")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--raw", type=Path, default=None, help="keep the collapsed stacks here")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    args = parser.parse_args()
    py_spy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    if py_spy is None:
        sys.stderr.write("py-spy not found: .venv/bin/pip install py-spy\n")
        return 2
    os.sched_setaffinity(0, {args.client_cpu})
    with tempfile.TemporaryDirectory(prefix="profile-ingest-") as temp:
        work = Path(temp)
        port = free_port()
        server = ServerProcess(
            "signals serve",
            [sys.executable, "-m", "signals", "serve"],
            base_url=f"http://127.0.0.1:{port}",
            cpu=args.server_cpu,
            log_path=work / "signals.log",
            cwd=work,
            env={
                "SIGNALS__DATA_DIR": str(work / "data"),
                "SIGNALS__INGEST__PORT": str(port),
                "SIGNALS__INTEGRITY__PORT": str(free_port()),
                "SIGNALS__LOGGING__LEVEL": "warning",
            },
        )
        try:
            server.wait_ready()
            url = server.base_url + ("/v1/log" if args.mode == "single" else "/v1/log/batch")
            load_seconds = args.seconds + 3
            if args.mode == "single":
                run_wrk(url, connections=64, duration=2, cpu=args.client_cpu)  # warm-up

                def load() -> None:
                    run_wrk(url, connections=64, duration=load_seconds, cpu=args.client_cpu)
            else:
                batches = loadgen.requests_for(url, 20, 1000, seed=5)

                def load() -> None:
                    uvloop.run(
                        loadgen.run(
                            url,
                            batches,
                            connections=4,
                            duration=load_seconds,
                            events_per_request=1000,
                        )
                    )

            driver = threading.Thread(target=load)
            driver.start()
            raw = args.raw or work / "stacks.txt"
            options = f"--duration {int(args.seconds)} --rate {args.rate} --format raw --threads"
            record = [py_spy, "record", "--pid", str(server.pid), *options.split()]
            subprocess.run(
                [*record, "--nonblocking", "-o", str(raw)], check=True, capture_output=True
            )
            driver.join()
            shares, leaves = stage_shares(raw)
        finally:
            server.stop()
    print(f"share of busy samples by stage ({args.mode} events):")
    for name, share in shares.items():
        print(f"  {share:6.1%}  {name}")
    print("functions with the most self time:")
    for leaf, share in leaves:
        print(f"  {share:6.1%}  {leaf}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
