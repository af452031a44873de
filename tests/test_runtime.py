"""`signals serve` as a real process: clean stops, nothing acknowledged lost, clear failures."""

from __future__ import annotations

import asyncio
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from tests.support.service import ServiceProcess, free_port, write_settings

from signals.events import record_decoder
from signals.journal.reader import iter_records

pytestmark = pytest.mark.slow


async def post_many(base: str, count: int, prefix: str) -> set[str]:
    """Post `count` events from 8 concurrent clients; the ids of those acknowledged."""
    acked: set[str] = set()

    async def client(worker: int) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            for i in range(worker, count, 8):
                event = {"user_id": f"u{i % 7}", "signal_type": "chat",
                         "event_id": f"{prefix}-{i}", "text": "where is my refund?"}  # fmt: skip
                try:
                    response = await http.post("/v1/log", json=event)
                except httpx.HTTPError:
                    return
                if response.status_code in (200, 202):
                    acked.add(response.json()["event_id"])

    await asyncio.gather(*(client(worker) for worker in range(8)))
    return acked


def stored_ids(data_dir: Path) -> list[str]:
    with sqlite3.connect(data_dir / "signals.db") as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master")}
        table = "events" if "events" in tables else next(t for t in tables if "event" in t)
        return [row[0] for row in db.execute(f"select event_id from {table}")]


def journal_ids(data_dir: Path) -> list[str]:
    return [record_decoder.decode(line).event_id for line, _ in iter_records(data_dir / "journal")]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_stop_under_load_exits_zero_and_keeps_every_acknowledged_event(
    tmp_path: Path, signum: int
) -> None:
    service = ServiceProcess(tmp_path).start()
    try:
        load = asyncio.create_task(post_many(service.ingest, 100_000, "load"))
        async with httpx.AsyncClient(base_url=service.ingest) as http:
            async with asyncio.timeout(20):
                while (await http.get("/metrics")).text.count("signals_events_total{") == 0:
                    await asyncio.sleep(0.05)
        assert await asyncio.to_thread(service.stop, signum) == 0, service.logs()
        acked = await load
    finally:
        service.__exit__()
    assert acked, "no event was acknowledged before the stop"
    in_journal = journal_ids(service.data_dir)
    assert acked <= set(in_journal)
    assert len(in_journal) == len(set(in_journal))
    in_store = stored_ids(service.data_dir)
    assert set(in_store) == set(in_journal)
    assert len(in_store) == len(set(in_store))
    assert '"signals stopped"' in service.logs()


async def test_restart_catches_up_and_answers_duplicates(tmp_path: Path) -> None:
    service = ServiceProcess(tmp_path)
    with service:
        first = await post_many(service.ingest, 40, "r")
        assert service.stop() == 0
    with service:
        async with httpx.AsyncClient(base_url=service.ingest) as http:
            again = await http.post("/v1/log", json={"user_id": "u", "signal_type": "chat",
                                                      "event_id": "r-3"})  # fmt: skip
            assert again.status_code == 200 and again.json()["duplicate"] is True
            page = (await http.get("/v1/signals", params={"limit": 1000})).json()
        assert {item["event_id"] for item in page["items"]} == first
        assert service.stop() == 0


def run_serve(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "signals", "serve", "--config", str(config)],
        capture_output=True, text=True, timeout=60, cwd=cwd, check=False,
    )  # fmt: skip


def test_port_in_use_fails_fast_naming_it(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        sections = {
            "data_dir": str(tmp_path / "d"),
            "ingest": {"port": port},
            "integrity": {"port": free_port()},
        }
        config = write_settings(tmp_path / "s.toml", sections)
        result = run_serve(config, tmp_path)
    assert result.returncode == 1
    assert f"127.0.0.1:{port}" in result.stdout + result.stderr


def test_unreachable_redis_at_start_exits_naming_the_url(tmp_path: Path) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    config = write_settings(tmp_path / "s.toml", {
        "data_dir": str(tmp_path / "d"),
        "ingest": {"port": free_port()}, "integrity": {"port": free_port()},
        "windows": {"backend": "redis"}, "redis": {"url": url},
    })  # fmt: skip
    result = run_serve(config, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "cannot reach Redis at redis://:***@127.0.0.1" in output
    assert "hunter2" not in output and "Traceback" not in output


def test_second_signal_forces_a_fast_exit_without_losing_acknowledged(tmp_path: Path) -> None:
    service = ServiceProcess(tmp_path).start()
    acked = asyncio.run(post_many(service.ingest, 50, "f"))
    assert service.process is not None
    service.process.send_signal(signal.SIGTERM)
    service.process.send_signal(signal.SIGTERM)
    assert service.process.wait(30) == 0, service.logs()
    assert acked <= set(journal_ids(service.data_dir))


def test_a_damaged_journal_line_stops_the_start_naming_file_and_offset(tmp_path: Path) -> None:
    service = ServiceProcess(tmp_path).start()
    asyncio.run(post_many(service.ingest, 5, "d"))
    service.stop()
    [segment] = sorted((service.data_dir / "journal").glob("segment-*.jsonl"))
    lines = segment.read_bytes().splitlines(keepends=True)
    damaged_at = len(lines[0])
    lines[1] = b'{"user_id": "x", "this is not a record\n'  # complete line, mid-segment
    segment.write_bytes(b"".join(lines))
    (service.data_dir / "signals.db").unlink()  # the store rebuilds from the journal
    config = write_settings(tmp_path / "again.toml", {
        "data_dir": str(service.data_dir),
        "ingest": {"port": free_port()}, "integrity": {"port": free_port()},
    })  # fmt: skip
    result = run_serve(config, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    [line] = [line for line in output.splitlines() if "is damaged at byte" in line]
    assert str(segment) in line and f"byte {damaged_at}" in line
    assert f"truncate -s {damaged_at}" in line
