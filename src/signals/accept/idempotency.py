"""The idempotency horizon: event ids seen recently, so a retried event is answered, not rewritten.

Bounded by count (`ingest.dedupe_max_ids`) and age (`ingest.dedupe_horizon_seconds`), oldest
evicted first. An id is claimed before its event is journaled, so two concurrent requests with
the same id cannot both write it: the second waits for the first and answers as a duplicate.
Ids warmed from the store at start carry no answer; their answer is read back from the store.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict

import msgspec


# Up to a million entries live for a day: untracked by the garbage collector (gc=False, cues as
# a tuple of strings), so full collections do not walk the whole horizon again and again.
class Answer(msgspec.Struct, frozen=True, gc=False):
    """What a duplicate is answered with: the original acceptance."""

    event_id: str
    sentiment: str
    sentiment_cues: tuple[str, ...]
    received_at: str


class Seen(msgspec.Struct, frozen=True, gc=False):
    at: float  # monotonic time it entered the horizon
    answer: Answer | asyncio.Future[Answer] | None  # None: warmed id, ask the store


class IdempotencyIndex:
    def __init__(self, max_ids: int, horizon_seconds: float) -> None:
        self._max_ids = max_ids
        self._horizon = horizon_seconds
        self._seen: OrderedDict[str, Seen] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def lookup(self, event_id: str) -> Seen | None:
        seen = self._seen.get(event_id)
        if seen is not None and time.monotonic() - seen.at > self._horizon:
            del self._seen[event_id]
            return None
        return seen

    def claim(self, event_id: str) -> asyncio.Future[Answer]:
        """Reserve an unseen id; settle the returned future with `settle` or `release`."""
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._put(event_id, Seen(time.monotonic(), future))
        return future

    def settle(self, answer: Answer) -> None:
        """The id's event is durable: answer its waiters, or enter it if it was never claimed
        (an id this server generated, which nobody could have sent before)."""
        seen = self._seen.get(answer.event_id)
        if seen is None:
            self._put(answer.event_id, Seen(time.monotonic(), answer))
            return
        if isinstance(seen.answer, asyncio.Future) and not seen.answer.done():
            seen.answer.set_result(answer)
        self._seen[answer.event_id] = Seen(seen.at, answer)

    def release(self, event_id: str, error: BaseException) -> None:
        """The claim failed (nothing was written): forget the id, fail whoever waits on it."""
        seen = self._seen.pop(event_id, None)
        if seen is not None and isinstance(seen.answer, asyncio.Future):
            if not seen.answer.done():
                seen.answer.set_exception(error)
            # Retrieve it so an unawaited failure is not reported as never retrieved.
            seen.answer.exception()

    def warm(self, event_ids: list[str]) -> None:
        """Remember ids already stored (newest first, as the store lists them)."""
        now = time.monotonic()
        for event_id in reversed(event_ids[: self._max_ids]):
            if event_id not in self._seen:
                self._put(event_id, Seen(now, None))

    def _put(self, event_id: str, seen: Seen) -> None:
        self._seen[event_id] = seen
        while len(self._seen) > self._max_ids:
            self._seen.popitem(last=False)
        # Age out from the old end; entries are in arrival order, so stop at the first young one.
        limit = seen.at - self._horizon
        while self._seen:
            oldest = next(iter(self._seen.values()))
            if oldest.at >= limit:
                break
            self._seen.popitem(last=False)
