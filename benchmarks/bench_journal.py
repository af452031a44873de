"""Journal throughput: appends/s and fsync groups/s by number of concurrent appenders.

Each appender appends one ~300-byte line at a time, as a request handler does, for `--seconds`
per round; the median of `--rounds` rounds is printed. Runs on real files in a temporary
directory (put it on the disk you care about with TMPDIR).

    .venv/bin/python benchmarks/bench_journal.py [--seconds 1] [--rounds 5] [--fsync always]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Literal

import structlog

from signals.journal import Journal
from signals.settings import JournalSettings

CONCURRENCY = (1, 16, 64, 256)
LINE = b'{"event_id":"bench","user_id":"u","signal_type":"message","text":"' + b"x" * 230 + b'"}'


async def one_round(
    directory: Path, appenders: int, seconds: float, fsync: Literal["always", "interval"]
) -> tuple[float, float]:
    settings = JournalSettings(fsync=fsync, compress=False, retention_days=0)
    async with await Journal.open(directory, settings) as journal:
        deadline = time.perf_counter() + seconds

        async def appender() -> None:
            while time.perf_counter() < deadline:
                await journal.append([LINE])

        started = time.perf_counter()
        await asyncio.gather(*(appender() for _ in range(appenders)))
        elapsed = time.perf_counter() - started
        return journal.stats.appends / elapsed, journal.stats.groups / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--fsync", choices=["always", "interval"], default="always")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    print(f"line {len(LINE) + 1} bytes, fsync={args.fsync}, median of {args.rounds} rounds")
    print(f"{'appenders':>9}  {'appends/s':>10}  {'groups/s':>9}  {'lines/group':>11}")
    for appenders in CONCURRENCY:
        appends, groups = [], []
        for number in range(args.rounds):
            with tempfile.TemporaryDirectory() as temp:
                directory = Path(temp) / f"journal-{appenders}-{number}"
                rate, group_rate = await one_round(directory, appenders, args.seconds, args.fsync)
            appends.append(rate)
            groups.append(group_rate)
        append_rate, group_rate = statistics.median(appends), statistics.median(groups)
        print(
            f"{appenders:>9}  {append_rate:>10.0f}  {group_rate:>9.0f}"
            f"  {append_rate / group_rate:>11.1f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
