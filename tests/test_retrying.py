"""Retrying until it works or we stop: waits cut short by a stop, an attempt in flight finished."""

from __future__ import annotations

import asyncio

import pytest

from signals.retrying import retry_forever, retry_until_stopped


class Refused(Exception):
    pass


class Flaky:
    """Fails `failures` times, then works; counts its calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise Refused(f"call {self.calls}")


async def test_retries_until_the_attempt_works() -> None:
    flaky = Flaky(failures=3)
    done = await retry_until_stopped(
        flaky, retry_on=Refused, stopping=asyncio.Event(), first_wait=0.001, max_wait=0.002
    )
    assert (done, flaky.calls) == (True, 4)


async def test_retry_forever_retries_any_exception() -> None:
    flaky = Flaky(failures=2)
    await retry_forever(flaky, first_wait=0.001, max_wait=0.002)
    assert flaky.calls == 3


async def test_a_stop_ends_a_long_wait_at_once() -> None:
    stopping = asyncio.Event()
    flaky = Flaky(failures=10**6)
    retrying = asyncio.create_task(
        retry_until_stopped(
            flaky, retry_on=Refused, stopping=stopping, first_wait=3600, max_wait=3600
        )
    )
    while flaky.calls == 0:
        await asyncio.sleep(0)
    stopping.set()
    async with asyncio.timeout(30):  # a guard against hanging, not a measurement
        assert await retrying is False
    assert flaky.calls == 1


async def test_an_attempt_in_flight_finishes_and_is_not_retried() -> None:
    stopping = asyncio.Event()
    started, release = asyncio.Event(), asyncio.Event()
    calls = 0

    async def slow_then_fail() -> None:
        nonlocal calls
        calls += 1
        started.set()
        await release.wait()
        raise Refused("after the stop")

    retrying = asyncio.create_task(
        retry_until_stopped(
            slow_then_fail, retry_on=Refused, stopping=stopping, first_wait=0.001, max_wait=0.001
        )
    )
    await started.wait()
    stopping.set()
    await asyncio.sleep(0.01)
    assert not retrying.done()  # the attempt is still running: not cancelled under it
    release.set()
    assert await retrying is False
    assert calls == 1


async def test_an_attempt_in_flight_that_succeeds_counts() -> None:
    stopping = asyncio.Event()
    started, release = asyncio.Event(), asyncio.Event()

    async def slow() -> None:
        started.set()
        await release.wait()

    retrying = asyncio.create_task(
        retry_until_stopped(slow, retry_on=Refused, stopping=stopping, first_wait=1, max_wait=1)
    )
    await started.wait()
    stopping.set()
    release.set()
    assert await retrying is True


async def test_an_error_it_does_not_retry_propagates() -> None:
    async def broken() -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await retry_until_stopped(
            broken, retry_on=Refused, stopping=asyncio.Event(), first_wait=0.001, max_wait=0.001
        )


async def test_already_stopping_makes_no_attempt() -> None:
    stopping = asyncio.Event()
    stopping.set()
    flaky = Flaky(failures=0)
    done = await retry_until_stopped(
        flaky, retry_on=Refused, stopping=stopping, first_wait=0.001, max_wait=0.001
    )
    assert (done, flaky.calls) == (False, 0)
