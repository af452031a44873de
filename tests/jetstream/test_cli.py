"""The command line on the JetStream journal: `replay` rebuilds a lost store from the stream,
and `serve` refuses a stream that does not fit, with exit status 1 and the reason."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
from tests.conftest import live_service
from tests.jetstream.test_service import stored_ids, streamed_settings
from tests.support.service import ServiceProcess, write_settings

from signals.replay import replay
from signals.settings import JournalSettings


async def test_replay_rebuilds_a_lost_store_from_the_stream(
    tmp_path: Path, journal: JournalSettings
) -> None:
    settings = streamed_settings(tmp_path, journal, "a")
    async with live_service(settings) as live:
        answer = await live.ingest.post(
            "/v1/log/batch", json=[{"user_id": f"u{i}", "signal_type": "chat"} for i in range(120)]
        )
        sent = set(answer.json()["event_ids"])
    settings.sqlite_path.unlink()
    assert await replay(settings) == (120, 120)
    assert await replay(settings) == (0, 120)  # idempotent by event_id
    async with live_service(settings) as live:
        assert await stored_ids(live) == sent


def serve(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "signals", "serve", "--config", str(config)],
        cwd=cwd, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


async def test_serve_refuses_a_stream_made_with_other_settings(
    tmp_path: Path, journal: JournalSettings
) -> None:
    async with live_service(streamed_settings(tmp_path, journal, "first")):
        pass
    config = write_settings(
        tmp_path / "other.toml",
        {
            "data_dir": str(tmp_path / "other"),
            "ingest": {"port": 0},
            "integrity": {"port": 0},
            "journal": {
                "backend": "jetstream", "url": str(journal.url), "stream": journal.stream,
                "partitions": journal.partitions * 2, "timeout_seconds": 2.0,
            },
        },
    )  # fmt: skip
    done = await asyncio.to_thread(serve, config, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"partitions: ours {journal.partitions * 2}, the stream's {journal.partitions}" in (
        done.stdout + done.stderr
    )


async def test_serve_without_a_reachable_server_exits_1_naming_it(tmp_path: Path) -> None:
    config = write_settings(
        tmp_path / "settings.toml",
        {
            "data_dir": str(tmp_path / "data"),
            "journal": {
                "backend": "jetstream",
                "url": "nats://127.0.0.1:1",
                "timeout_seconds": 1.0,
            },
        },
    )
    done = await asyncio.to_thread(serve, config, tmp_path)
    assert done.returncode == 1
    assert "cannot reach NATS at nats://127.0.0.1:1" in done.stdout + done.stderr


async def test_sigterm_stops_a_jetstream_instance_cleanly(
    tmp_path: Path, journal: JournalSettings
) -> None:
    sections = {
        "journal": {
            "backend": "jetstream", "url": str(journal.url), "stream": journal.stream,
            "partitions": journal.partitions, "timeout_seconds": 2.0,
        },
    }  # fmt: skip
    with ServiceProcess(tmp_path, sections) as service:
        async with httpx.AsyncClient(base_url=service.ingest, timeout=10) as client:
            answer = await client.post("/v1/log", json={"user_id": "u", "signal_type": "chat"})
        assert answer.status_code == 202
        assert await asyncio.to_thread(service.stop) == 0
    logs = service.logs()
    assert '"event":"jetstream.journal_opened"' in logs
    assert "Traceback" not in logs
