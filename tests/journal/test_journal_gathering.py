"""Gathering: a small group waits a moment for company only while appends come fast."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.journal.support import file_lines, line

from signals.journal import Journal
from signals.journal.gathering import ENOUGH, GATHER_SECONDS, Gathering
from signals.settings import JournalSettings


def steady(gathering: Gathering, per_second: float, groups: int = 20, size: int = 2) -> float:
    """Report `groups` groups of `size` appends arriving at `per_second`; the clock after them."""
    now = 100.0
    for _ in range(groups):
        now += size / per_second
        gathering.taken(size, now)
    return now


def test_a_new_writer_holds_nothing() -> None:
    assert Gathering().hold(1) == 0.0


def test_a_steady_stream_faster_than_one_append_per_wait_holds_small_groups() -> None:
    gathering = Gathering()
    steady(gathering, per_second=2_500)
    assert gathering.rate == pytest.approx(2_500, rel=0.05)
    assert gathering.hold(1) == GATHER_SECONDS
    assert gathering.hold(ENOUGH - 1) == GATHER_SECONDS
    assert gathering.hold(ENOUGH) == 0.0  # the last fsync gathered plenty already


def test_a_trickle_is_never_held() -> None:
    gathering = Gathering()
    steady(gathering, per_second=500, size=1)  # one append every 2 ms: a wait of 1 ms gains none
    assert gathering.hold(1) == 0.0


def test_an_idle_spell_stops_the_holding_within_a_few_groups() -> None:
    gathering = Gathering()
    now = steady(gathering, per_second=3_000)
    held = []
    for _ in range(10):
        now += 2.0  # one append every two seconds
        gathering.taken(1, now)
        held.append(gathering.hold(1) > 0)
    assert held[-1] is False
    assert held.index(False) <= 8


def test_a_wait_of_zero_never_holds() -> None:
    gathering = Gathering(seconds=0.0)
    steady(gathering, per_second=100_000)
    assert gathering.hold(1) == 0.0


def primed(seconds: float) -> Gathering:
    """A gathering that has seen appends come far faster than one per `seconds`."""
    gathering = Gathering(seconds)
    steady(gathering, per_second=1_000 / seconds)
    gathering.taken(0, asyncio.get_running_loop().time())  # the clock the writer reports with
    return gathering


async def test_a_held_group_takes_what_comes_meanwhile_and_acknowledges_it_together(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "journal"
    async with await Journal.open(directory, JournalSettings()) as journal:
        journal.gathering = primed(seconds=0.3)
        groups = journal.stats.groups
        first = journal.submit([line(1)])
        await asyncio.sleep(0.02)
        assert not first.done()  # held for company: nothing is acknowledged before its fsync
        second = journal.submit([line(2)])
        await asyncio.gather(first, second)
        assert journal.stats.groups == groups + 1
        assert journal.stats.fsyncs == journal.stats.groups
        assert first.result() < second.result() == journal.committed
    assert file_lines(directory) == [line(1), line(2)]


async def test_interval_mode_never_holds_a_group(tmp_path: Path) -> None:
    lazy = JournalSettings(fsync="interval", fsync_interval_ms=60_000)
    async with await Journal.open(tmp_path / "journal", lazy) as journal:
        journal.gathering = primed(seconds=30.0)
        await asyncio.wait_for(journal.append([line(1)]), 10.0)  # a group costs only a write
