"""Gathering: a small group waits a moment for company only while independent appends come fast."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.journal.support import file_lines, line

from signals.journal import Journal
from signals.journal.gathering import ENOUGH, GATHER_SECONDS, Gathering
from signals.settings import JournalSettings


def stream(
    gathering: Gathering, per_second: float, *, busy: bool, groups: int = 20, size: int = 2
) -> float:
    """The writer's calls for `groups` groups of `size` appends arriving at `per_second`, each
    found waiting when the write before it ended (`busy`) or not; returns the clock after."""
    now = 100.0
    for _ in range(groups):
        gathering.hold(size, busy)
        now += size / per_second
        gathering.taken(size, now)
    return now


def test_a_new_writer_holds_nothing() -> None:
    assert Gathering().hold(1, True) == 0.0


def test_independent_appends_faster_than_one_per_wait_hold_small_groups() -> None:
    gathering = Gathering()
    stream(gathering, per_second=2_500, busy=True)
    assert 2_400 < gathering.rate < 2_500
    assert gathering.hold(1, True) == GATHER_SECONDS
    assert gathering.hold(ENOUGH - 1, True) == GATHER_SECONDS
    assert gathering.hold(ENOUGH, True) == 0.0  # the last fsync gathered plenty already


def test_appends_that_sometimes_overlap_a_write_are_held() -> None:
    gathering = Gathering()
    for number in range(40):
        gathering.hold(1, number % 3 == 0)
        gathering.taken(1, 100.0 + number / 2_000)
    assert gathering.hold(1, False) == GATHER_SECONDS


def test_a_fast_client_that_waits_for_each_answer_is_never_held() -> None:
    # Its next event comes only once the last is answered: never during a write.
    gathering = Gathering()
    stream(gathering, per_second=5_000, busy=False, size=1)
    assert gathering.hold(1, False) == 0.0


def test_a_trickle_is_never_held() -> None:
    gathering = Gathering()
    stream(gathering, per_second=500, busy=True, size=1)  # one every 2 ms: 1 ms gains none
    assert gathering.hold(1, True) == 0.0


def test_an_idle_spell_stops_the_holding_within_a_few_groups() -> None:
    gathering = Gathering()
    now = stream(gathering, per_second=3_000, busy=True)
    held = []
    for _ in range(10):
        held.append(gathering.hold(1, False) > 0)
        now += 2.0  # one append every two seconds, each finding the writer idle
        gathering.taken(1, now)
    assert held[-1] is False
    assert held.index(False) <= 8


def test_a_wait_of_zero_never_holds() -> None:
    gathering = Gathering(seconds=0.0)
    stream(gathering, per_second=100_000, busy=True)
    assert gathering.hold(1, True) == 0.0


async def test_a_held_group_takes_what_comes_meanwhile_and_acknowledges_it_together(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "journal"
    async with await Journal.open(directory, JournalSettings()) as journal:
        journal.gathering = Gathering(seconds=0.3)
        stream(journal.gathering, per_second=10_000, busy=True)
        journal.gathering.taken(0, asyncio.get_running_loop().time())  # the writer's clock
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


async def test_appends_one_after_another_are_never_held(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path / "journal", JournalSettings()) as journal:
        journal.gathering = Gathering(seconds=30.0)  # a hold would time the appends out
        for number in range(50):
            await asyncio.wait_for(journal.append([line(number)]), 10.0)
        assert journal.stats.groups == 50


async def test_interval_mode_never_holds_a_group(tmp_path: Path) -> None:
    lazy = JournalSettings(fsync="interval", fsync_interval_ms=60_000)
    async with await Journal.open(tmp_path / "journal", lazy) as journal:
        assert journal.gathering.seconds == 0.0  # a group costs only a write
        await asyncio.gather(*(journal.append([line(n)]) for n in range(100)))
