"""`signals replay` rebuilds the store from the journal, compressed segments included."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.durability.evidence import checkpoint, journal_end, journal_ids, segments, store_ids
from tests.durability.load import post_events, wait_for
from tests.support.service import ServiceProcess

from signals.errors import FilesUnusable
from signals.replay import replay as run_replay
from signals.settings import load

pytestmark = pytest.mark.slow


def replay(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "signals", "replay", "--config", str(config)],
        capture_output=True, text=True, timeout=60, cwd=cwd, check=False,
    )  # fmt: skip


def all_closed_compressed(data_dir: Path) -> bool:
    found = segments(data_dir)
    return len(found) > 3 and all(segment.compressed for segment in found[:-1])


async def test_replay_rebuilds_a_deleted_store_from_rotated_compressed_segments(
    tmp_path: Path,
) -> None:
    service = ServiceProcess(tmp_path, {"journal": {"segment_max_bytes": 4096}})
    await asyncio.to_thread(service.start)
    try:
        tally = await post_events(service.ingest, [f"r-{i}" for i in range(120)], clients=8)
        await wait_for("segments compressed", lambda: all_closed_compressed(service.data_dir))
        refused = await asyncio.to_thread(replay, service.config, tmp_path)
        assert refused.returncode == 1
        assert "stop the service" in refused.stdout + refused.stderr
    finally:
        assert await asyncio.to_thread(service.stop) == 0
    assert len(tally.acked) == 120
    in_journal = journal_ids(service.data_dir)
    assert sorted(in_journal) == sorted(tally.acked)

    for path in service.data_dir.glob("signals.db*"):
        path.unlink()
    done = await asyncio.to_thread(replay, service.config, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(store_ids(service.data_dir)) == sorted(in_journal)
    # The next start does not replay again: the store's checkpoint is the journal's end.
    assert checkpoint(service.data_dir, "store") == journal_end(service.data_dir)
    # Replaying into a store that has every record adds none of them twice.
    assert await run_replay(load(service.config, {})) == (0, len(in_journal))
    assert sorted(store_ids(service.data_dir)) == sorted(in_journal)


async def test_replay_without_a_journal_refuses_naming_the_directory(tmp_path: Path) -> None:
    settings = load(None, {"SIGNALS__DATA_DIR": str(tmp_path / "nothing")})
    with pytest.raises(
        FilesUnusable, match=re.escape(f"no journal at {tmp_path / 'nothing' / 'journal'}")
    ):
        await run_replay(settings)
    assert not (tmp_path / "nothing").exists()
