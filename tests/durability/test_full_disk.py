"""A disk that fills up under a running `signals serve`, then gets room again.

Two real ways to fill a disk: a small tmpfs mounted as the journal's filesystem (needs root, as
CI runs), and a file size limit (`RLIMIT_FSIZE`, set on the running process with prlimit: writes
past it fail with EFBIG, as a full disk fails with ENOSPC). Either way: requests whose group
cannot be written get 503 `unavailable` with Retry-After, never 500 and never a dropped
connection; `/ready` is 503 with the journal check failed; every acknowledged event is in the
journal and no refused one is; once there is room again the service is ready and accepts events
without a restart.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integrity.detection.support import eventually
from tests.support.ci import cannot_run
from tests.support.service import ServiceProcess

from signals.journal import iter_records

pytestmark = pytest.mark.slow

TEXT = "the disk is filling up and this text is long " * 180  # about 8 KiB a line
SMALL_DISK = "256k"


@dataclass
class Disk:
    """Where the journal lives, and how to take its room away and give it back."""

    kind: str
    data_dir: Path
    store_path: Path
    fill: Callable[[ServiceProcess], None]
    grow: Callable[[ServiceProcess], None]


def can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


def run(*command: str) -> None:
    subprocess.run(command, check=True)


def mount_tmpfs(where: Path, size: str) -> None:
    run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where))


@pytest.fixture(params=["tmpfs", "rlimit"])
def disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Disk]:
    store_path = tmp_path / "store" / "signals.db"
    if request.param == "tmpfs":
        if not can_mount():
            cannot_run("mounting a tmpfs needs root; the rlimit case covers a full disk here")
        mountpoint = tmp_path / "small"
        mountpoint.mkdir()
        mount_tmpfs(mountpoint, SMALL_DISK)
        try:
            yield Disk(
                "tmpfs",
                mountpoint / "data",
                store_path,
                fill=lambda service: None,  # the journal fills it by itself
                grow=lambda service: run("mount", "-o", "remount,size=8m", str(mountpoint)),
            )
        finally:
            subprocess.run(["umount", "-l", str(mountpoint)], check=False)
        return

    def limit(service: ServiceProcess) -> None:
        assert service.process is not None
        segments = list((service.data_dir / "journal").glob("segment-*.jsonl"))
        size = max(path.stat().st_size for path in segments)
        _, hard = resource.prlimit(service.process.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(service.process.pid, resource.RLIMIT_FSIZE, (size + 200_000, hard))

    def unlimit(service: ServiceProcess) -> None:
        assert service.process is not None
        _, hard = resource.prlimit(service.process.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(service.process.pid, resource.RLIMIT_FSIZE, (hard, hard))

    yield Disk("rlimit", tmp_path / "data", store_path, fill=limit, grow=unlimit)


def log_lines(service: ServiceProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in service.logs().splitlines() if line.startswith("{")]


async def test_a_full_disk_refuses_with_503_and_recovers_without_a_restart(disk: Disk) -> None:
    service = ServiceProcess(
        disk.data_dir.parent,
        {"data_dir": str(disk.data_dir), "store": {"path": str(disk.store_path)}},
    )
    acknowledged: list[str] = []
    refused: list[str] = []
    try:
        await asyncio.to_thread(service.start)
        await asyncio.to_thread(disk.fill, service)
        async with httpx.AsyncClient(base_url=service.ingest, timeout=30) as ingest:

            async def post() -> httpx.Response:
                event_id = uuid.uuid4().hex
                event = {"event_id": event_id, "user_id": "disk", "signal_type": "chat",
                         "text": TEXT}  # fmt: skip
                response = await ingest.post("/v1/log", json=event)
                assert response.status_code in (202, 503), response.text
                (acknowledged if response.status_code == 202 else refused).append(event_id)
                return response

            for _ in range(400):
                if (await post()).status_code == 503:
                    break
            assert refused, "the disk never filled"
            last = await post()  # still full: refused again, quietly
            assert last.status_code == 503
            body = last.json()
            assert body["error"]["code"] == "unavailable"
            assert int(last.headers["retry-after"]) >= 1
            ready = await ingest.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["checks"]["journal"]["status"] == "failed"

            await asyncio.to_thread(disk.grow, service)

            async def ready_again() -> bool:
                return (await ingest.get("/ready")).status_code == 200

            await eventually(ready_again, within=30.0, every=0.1)
            assert (await post()).status_code == 202
        assert await asyncio.to_thread(service.stop) == 0
    finally:
        service.__exit__()
    journaled = {
        json.loads(data)["event_id"] for data, _ in iter_records(disk.data_dir / "journal")
    }
    assert set(acknowledged) <= journaled
    assert not set(refused) & journaled
    lines = log_lines(service)
    assert not [line for line in lines if line["event"] == "unhandled error"]
    if disk.kind == "tmpfs":  # with a file size limit the log file may be over it too
        errors = [line["event"] for line in lines if line["level"] == "error"]
        assert errors == ["journal.unavailable"], errors
        assert [line for line in lines if line["event"] == "journal.available"]
