"""`signals replay` rebuilds the store from the journal, compressed segments included, and shows
how far it has come: a live line on a terminal, log lines elsewhere."""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from structlog.testing import capture_logs
from tests.durability.evidence import checkpoint, journal_end, journal_ids, segments, store_ids
from tests.durability.load import post_events, wait_for
from tests.support.service import ServiceProcess
from tests.support.terminal import run_in_terminal

from signals.errors import FilesUnusable
from signals.journal.reader import count_lines
from signals.progress import Progress
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

    assert count_lines(service.data_dir / "journal") == len(in_journal)

    for path in service.data_dir.glob("signals.db*"):
        path.unlink()
    # At a terminal, as a person runs it: the live line shows done of the total and the rate.
    status, drawn = await asyncio.to_thread(
        run_in_terminal,
        [sys.executable, "-m", "signals", "replay", "--config", str(service.config)],
        tmp_path,
    )
    assert status == 0, drawn
    assert f"{len(in_journal)}/{len(in_journal)}" in drawn
    assert "records/s" in drawn
    assert f"stored {len(in_journal)}" in drawn
    assert sorted(store_ids(service.data_dir)) == sorted(in_journal)
    # The next start does not replay again: the store's checkpoint is the journal's end.
    assert checkpoint(service.data_dir, "store") == journal_end(service.data_dir)

    # Replaying into a store that has every record adds none of them twice. Without a
    # terminal, progress is log lines (here one per batch: no interval).
    quiet = Progress("replay", "records", console=Console(file=io.StringIO()), interval=0)
    with capture_logs() as captured:
        assert await run_replay(load(service.config, {}), quiet) == (0, len(in_journal))
    assert sorted(store_ids(service.data_dir)) == sorted(in_journal)
    lines = [line for line in captured if line["event"] == "replay progress"]
    assert lines, captured
    last = lines[-1]
    assert (last["done"], last["total"], last["unit"]) == (len(in_journal), len(in_journal),
                                                           "records")  # fmt: skip
    assert last["stored"] == 0
    assert last["rate_per_second"] > 0
    assert last["eta_seconds"] == 0


async def test_replay_without_a_journal_refuses_naming_the_directory(tmp_path: Path) -> None:
    settings = load(None, {"SIGNALS__DATA_DIR": str(tmp_path / "nothing")})
    with pytest.raises(
        FilesUnusable, match=re.escape(f"no journal at {tmp_path / 'nothing' / 'journal'}")
    ):
        await run_replay(settings)
    assert not (tmp_path / "nothing").exists()
