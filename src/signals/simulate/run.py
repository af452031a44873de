"""A simulation run: the token schedule that paces requests, and `simulate`, which drives it.

With a `Progress`, a reporter updates it every `REPORT_SECONDS` from the tally (events sent of
those planned, accepted, bursts, errors) until the last request has come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import time

import httpx

from signals.errors import UsageError
from signals.progress import Progress
from signals.simulate.sender import Sender
from signals.simulate.summary import SimulationSummary, Tally
from signals.simulate.traffic import BURST_GAP_SECONDS, BURST_SECONDS, Traffic
from signals.urls import http_url_problem

BATCH_SHARE = 0.06
DUPLICATE_SHARE = 0.015
CATCH_UP_SECONDS = 1.0  # a stalled loop may make up at most this much lost budget at once
REPORT_SECONDS = 0.25


async def simulate(
    base_url: str,
    *,
    rate: float,
    duration: float,
    users: int = 50,
    api_key: str | None = None,
    seed: int | None = None,
    threshold: int = 10,
    concurrency: int = 32,
    progress: Progress | None = None,
) -> SimulationSummary:
    """Send about `rate` events per second for `duration` seconds to `base_url`.

    `threshold` is the service's `thresholds.default`, which the bursts must exceed. Raises
    UsageError for a bad argument; never raises for a network or HTTP failure.
    """
    problem = http_url_problem(base_url)
    if problem:
        raise UsageError(f"url {problem}, not {base_url!r}")
    if not rate > 0 or not math.isfinite(rate):
        raise UsageError(f"rate must be a positive number of events per second, not {rate}")
    if not duration > 0 or not math.isfinite(duration):
        raise UsageError(f"duration must be a positive number of seconds, not {duration}")
    if users < 1:
        raise UsageError(f"users must be at least 1, not {users}")
    if threshold < 1 or concurrency < 1:
        raise UsageError("threshold and concurrency must be at least 1")
    rng = random.Random(seed)
    traffic = Traffic(rng, users, os.urandom(4).hex())
    tally = Tally()
    headers = {"X-API-Key": api_key} if api_key else {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timeout = httpx.Timeout(10.0, connect=3.0)
    started = time.monotonic()
    finished = asyncio.Event()
    reporter = None
    if progress is not None:
        reporter = asyncio.create_task(_report(progress, tally, round(rate * duration), finished))
    try:
        async with (
            httpx.AsyncClient(
                base_url=base_url.rstrip("/"), headers=headers, limits=limits, timeout=timeout
            ) as client,
            asyncio.TaskGroup() as tasks,
        ):
            sender = Sender(client, tally, concurrency)
            schedule = Schedule(
                traffic, tally, sender, rng, rate=rate, duration=duration, threshold=threshold
            )
            await schedule.run(tasks)
    finally:
        finished.set()
        if reporter is not None:
            await reporter
    return tally.summary(base_url, rate, time.monotonic() - started)


async def _report(progress: Progress, tally: Tally, planned: int, finished: asyncio.Event) -> None:
    while not finished.is_set():
        progress.update(tally.sent, total=planned, **tally.figures())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(finished.wait(), REPORT_SECONDS)
    progress.update(tally.sent, total=max(planned, tally.sent), **tally.figures())


class Schedule:
    """The token schedule: starts requests until `duration` is spent; the task group awaits them."""

    def __init__(
        self,
        traffic: Traffic,
        tally: Tally,
        sender: Sender,
        rng: random.Random,
        *,
        rate: float,
        duration: float,
        threshold: int,
    ) -> None:
        self._traffic = traffic
        self._tally = tally
        self._sender = sender
        self._rng = rng
        self._rate = rate
        self._duration = duration
        self._threshold = threshold
        self._max_batch = max(2, min(25, int(rate)))

    async def run(self, tasks: asyncio.TaskGroup) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        deadline = start + self._duration
        next_at = start
        next_burst = start + min(2.0, self._duration * 0.2)
        while (now := loop.time()) < deadline:
            if next_at > now:
                await asyncio.sleep(min(next_at, deadline) - now)
                continue
            next_at = max(next_at, now - CATCH_UP_SECONDS)
            if now >= next_burst and deadline - now > BURST_SECONDS + 0.5:
                spent = self._burst(tasks)
                next_burst = now + self._rng.uniform(*BURST_GAP_SECONDS)
            else:
                spent = self._step(tasks)
            next_at += spent / self._rate
            # Backpressure: a slow service holds every slot, and the schedule waits here.
            async with self._sender.slots:
                pass

    def _burst(self, tasks: asyncio.TaskGroup) -> int:
        tally = self._tally
        critical = tally.bursts == 0 or self._rng.random() < 0.5
        events, critical = self._traffic.burst(self._threshold, critical)
        tally.bursts += 1
        tally.critical_bursts += critical
        spacing = BURST_SECONDS / len(events)
        for index, (event, label) in enumerate(events):
            tally.count_new(event, label)
            tasks.create_task(self._sender.one(event, delay=index * spacing))
        return len(events)

    def _step(self, tasks: asyncio.TaskGroup) -> int:
        roll = self._rng.random()
        if roll < BATCH_SHARE:
            batch = [self._traffic.event() for _ in range(self._rng.randint(2, self._max_batch))]
            for event, label in batch:
                self._tally.count_new(event, label)
            tasks.create_task(self._sender.batch([event for event, _ in batch]))
            return len(batch)
        repeat = self._traffic.duplicate() if roll < BATCH_SHARE + DUPLICATE_SHARE else None
        if repeat is None:
            event, label = self._traffic.event()
            self._tally.count_new(event, label)
            repeat = event
        tasks.create_task(self._sender.one(repeat))
        return 1
