"""The backlog bound: room is reserved before journaling and given back by the consumer.

Waiting requests are tasks on this loop; a test lets them run with `settle()` (a few turns of the
loop, no clock) and then looks at which of them got room.
"""

from __future__ import annotations

import asyncio

import pytest

from signals.accept.backlog import Backlog, BacklogFull

LONG = 60.0  # a wait no test reaches: the test decides when room frees up


async def settle() -> None:
    """Let every task that can run, run (waiters woken by a release included)."""
    for _ in range(5):
        await asyncio.sleep(0)


def waiting(backlog: Backlog, count: int, wait: float = LONG) -> asyncio.Task[None]:
    return asyncio.create_task(backlog.reserve(count, wait))


async def test_room_is_taken_at_once_while_it_fits_and_given_back_on_release() -> None:
    backlog = Backlog(10)
    await backlog.reserve(4, 0)
    await backlog.reserve(6, 0)  # exactly full still fits
    assert backlog.used == 10
    backlog.release(4)
    assert backlog.used == 6
    await backlog.reserve(4, 0)
    assert backlog.used == 10


async def test_a_full_backlog_waits_until_room_is_released() -> None:
    backlog = Backlog(2)
    await backlog.reserve(2, 0)
    request = waiting(backlog, 1)
    await settle()
    assert not request.done()
    assert backlog.used == 2
    backlog.release(1)
    await settle()
    assert request.done() and request.exception() is None
    assert backlog.used == 2


async def test_a_wait_that_ends_full_raises_backlog_full_and_takes_no_room() -> None:
    backlog = Backlog(3)
    await backlog.reserve(3, 0)
    with pytest.raises(BacklogFull, match=r"3/3"):
        await backlog.reserve(1, 0.01)
    assert backlog.used == 3
    # The timed-out request is not served later: freed room goes to whoever asks next.
    backlog.release(3)
    assert backlog.used == 0
    await backlog.reserve(3, 0)
    assert backlog.used == 3


async def test_waiters_are_served_first_come_first_served() -> None:
    backlog = Backlog(10)
    await backlog.reserve(10, 0)
    big = waiting(backlog, 5)
    await settle()
    small = waiting(backlog, 1)
    await settle()
    backlog.release(1)
    await settle()
    # One event's room would fit the small request, but the big one came first and is not starved.
    assert not big.done() and not small.done()
    backlog.release(4)
    await settle()
    assert big.done() and not small.done()
    assert backlog.used == 10
    backlog.release(1)
    await settle()
    assert small.done()
    assert backlog.used == 10


async def test_a_newcomer_that_fits_does_not_jump_the_queue() -> None:
    backlog = Backlog(10)
    await backlog.reserve(8, 0)
    first = waiting(backlog, 5)
    await settle()
    # 2 would fit now, but the first waiter is ahead of it.
    with pytest.raises(BacklogFull):
        await backlog.reserve(2, 0.01)
    assert not first.done()
    backlog.release(3)
    await settle()
    assert first.done()
    assert backlog.used == 10


async def test_a_request_larger_than_the_capacity_gets_through_an_empty_backlog_only() -> None:
    backlog = Backlog(5)
    await backlog.reserve(1, 0)
    oversized = waiting(backlog, 8)
    await settle()
    assert not oversized.done()
    backlog.release(1)
    await settle()
    assert oversized.done() and oversized.exception() is None
    assert backlog.used == 8
    with pytest.raises(BacklogFull):
        await backlog.reserve(1, 0.01)
    backlog.release(8)
    assert backlog.used == 0


async def test_a_cancelled_waiter_leaves_the_queue_and_takes_no_room() -> None:
    backlog = Backlog(4)
    await backlog.reserve(4, 0)
    cancelled = waiting(backlog, 4)
    behind = waiting(backlog, 2)
    await settle()
    cancelled.cancel()
    await settle()
    assert cancelled.cancelled()
    backlog.release(2)
    await settle()
    assert behind.done() and behind.exception() is None
    assert backlog.used == 4


async def test_a_waiter_cancelled_just_after_it_was_granted_gives_the_room_back() -> None:
    backlog = Backlog(3)
    await backlog.reserve(3, 0)
    request = waiting(backlog, 2)
    await settle()
    # Granted and cancelled in one step of the loop: the waiter never learns it had room.
    backlog.release(2)
    request.cancel()
    await settle()
    assert request.cancelled()
    assert backlog.used == 1
