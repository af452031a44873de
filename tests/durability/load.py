"""Concurrent clients that keep score: which event ids the service acknowledged (a 2xx answer).

An id is acknowledged only by a 2xx answer (202, or 200 for a duplicate); any other answer, or
a connection that died, leaves it unacknowledged (it may or may not be in the journal). A client
stops at its first transport error, which is how a killed or stopped service ends a run.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import httpx


def event(event_id: str) -> dict[str, str]:
    return {
        "user_id": f"user-{zlib.crc32(event_id.encode()) % 11}",
        "signal_type": "chat",
        "event_id": event_id,
        "text": "thanks, that fixed it, but where is my refund?",
    }


def numbered(prefix: str, start: int = 0) -> Iterator[str]:
    return (f"{prefix}-{i}" for i in itertools.count(start))


@dataclass
class Tally:
    attempted: list[str] = field(default_factory=list)
    acked: set[str] = field(default_factory=set)
    duplicates: set[str] = field(default_factory=set)  # acknowledged as seen before (200)
    latencies: list[float] = field(default_factory=list)

    @property
    def unacked(self) -> list[str]:
        return [event_id for event_id in self.attempted if event_id not in self.acked]


async def post_events(
    base: str, event_ids: Iterable[str], *, clients: int = 16, tally: Tally | None = None
) -> Tally:
    """POST /v1/log each id (from `clients` concurrent clients) until the ids run out or every
    client met a transport error."""
    tally = tally if tally is not None else Tally()
    ids = iter(event_ids)
    loop = asyncio.get_running_loop()

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            for event_id in ids:
                tally.attempted.append(event_id)
                started = loop.time()
                try:
                    response = await http.post("/v1/log", json=event(event_id))
                except httpx.TransportError:
                    return
                tally.latencies.append(loop.time() - started)
                if 200 <= response.status_code < 300:
                    tally.acked.add(event_id)
                    if response.json()["duplicate"]:
                        tally.duplicates.add(event_id)

    await asyncio.gather(*(client() for _ in range(clients)))
    return tally


async def wait_for(what: str, condition: Callable[[], object], within: float = 20.0) -> None:
    """Poll `condition()` (sync or async) every 20 ms until it is true; fail after `within` s."""
    deadline = time.monotonic() + within
    while True:
        outcome = condition()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.02)
