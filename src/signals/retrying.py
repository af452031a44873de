"""Retrying until it works or we stop: stamina's backoff, cut short by a stop.

The store consumer and the router forwarder retry forever (the journal holds what they have not
done yet), with stamina's capped exponential waits and jitter. A stop must not sit out a wait of
up to `max_backoff_seconds`: `retry_until_stopped` cancels a wait at once, while an attempt in
flight is left to finish (its caller bounds that) and is not retried.

stamina's own retry logs are switched off: each caller logs an outage its own way (one line when
it starts, then every hundredth failure), which a log line per retry would drown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import stamina
import stamina.instrumentation

stamina.instrumentation.set_on_retry_hooks([])


async def retry_forever(
    attempt: Callable[[], Awaitable[None]], *, first_wait: float, max_wait: float
) -> None:
    """Run `attempt` until it returns; every exception is retried (cancel to give up)."""
    async for trial in stamina.retry_context(
        on=Exception, attempts=None, timeout=None,
        wait_initial=first_wait, wait_max=max_wait, wait_jitter=first_wait,
    ):  # fmt: skip
        with trial:  # a failure is swallowed here, and the loop goes on
            await attempt()
            return


async def retry_until_stopped(
    attempt: Callable[[], Awaitable[None]],
    *,
    retry_on: type[Exception] | tuple[type[Exception], ...],
    stopping: asyncio.Event,
    first_wait: float,
    max_wait: float,
) -> bool:
    """Run `attempt` until it returns (True) or `stopping` is set (False).

    A `retry_on` failure is retried after a wait, unless stopping; any other exception ends the
    retries and propagates.
    """
    in_flight = False

    def retryable(exc: Exception) -> bool:
        return isinstance(exc, retry_on) and not stopping.is_set()

    async def attempts() -> bool:
        nonlocal in_flight
        async for trial in stamina.retry_context(
            on=retryable, attempts=None, timeout=None,
            wait_initial=first_wait, wait_max=max_wait, wait_jitter=first_wait,
        ):  # fmt: skip
            if stopping.is_set():
                return False
            done = False
            with trial:  # a failure to retry is swallowed here, and the loop goes on
                in_flight = True
                try:
                    await attempt()
                finally:
                    in_flight = False
                done = True
            if done:
                return True
        return False  # not reached: the attempts are unbounded

    trying = asyncio.create_task(attempts())
    stop = asyncio.create_task(stopping.wait())
    try:
        await asyncio.wait({trying, stop}, return_when=asyncio.FIRST_COMPLETED)
        if not trying.done() and not in_flight:
            trying.cancel()  # waiting between attempts: nothing to finish
        try:
            return await trying
        except asyncio.CancelledError:
            if stop.done():
                return False
            raise
        except retry_on:
            return False  # the attempt in flight failed as we stopped: not retried
    finally:
        for task in (trying, stop):
            task.cancel()
        await asyncio.gather(trying, stop, return_exceptions=True)
