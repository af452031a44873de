"""The idempotency horizon: the event ids seen recently, so a retry is answered, not rewritten.

Two parts, so that a million ids cost a few megabytes instead of hundreds:

- `live`: the ids in flight and the ids journaled but not yet stored, each with its future or its
  answer. An id is claimed (a future) before its event is journaled, so concurrent requests with
  one id cannot both write it: the later ones wait for the first and answer as duplicates. Once
  the journal has it the answer replaces the future, and once the store has it (`stored`, from
  the consumer) it leaves: from then on the store's unique index answers for it. `live` is
  bounded by the backlog (`ingest.queue_size`), not by the horizon.
- a filter over every id in the horizon: Bloom filters, one per generation of up to
  `dedupe_max_ids` ids, in bit arrays. A filter never misses an id it holds, and is wrong the
  other way for under 0.15% of unseen ids: `lookup` says `ASK_STORE` for an id it may hold,
  and the pipeline asks the store, which has it or not (a stale "maybe" costs one query). A
  generation is retired once it holds `dedupe_max_ids` ids or its oldest id is older than
  `dedupe_horizon_seconds`, and forgotten once its newest id is that old or a newer generation
  is retired too. So an id is remembered for at least its horizon (the newest `dedupe_max_ids`
  ids, within `dedupe_horizon_seconds`) and forgotten after at most twice that.

Ids warmed from the store at start enter the filter only: their answer is in the store.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable, Iterable
from typing import Final, Literal

import msgspec

# Bits per id a generation holds, and probes per id. 32 bits with 3 probes: about 0.06% of
# unknown ids look known while a generation is full, 4 MiB per generation for a million ids.
BITS_PER_ID = 32
PROBES = 3


class Answer(msgspec.Struct, frozen=True, gc=False):
    """What a duplicate is answered with: the original acceptance."""

    event_id: str
    sentiment: str
    sentiment_cues: tuple[str, ...]
    received_at: str


class _Verdict(enum.Enum):
    ASK_STORE = "ask the store"


ASK_STORE: Final = _Verdict.ASK_STORE
Seen = Answer | asyncio.Future[Answer] | Literal[_Verdict.ASK_STORE]


class _Generation:
    """One Bloom filter and the times of its first and newest id."""

    __slots__ = ("bits", "count", "first_at", "last_at")

    def __init__(self, size_bytes: int, now: float) -> None:
        self.bits = bytearray(size_bytes)
        self.count = 0
        self.first_at = now
        self.last_at = now


class IdempotencyIndex:
    def __init__(
        self,
        max_ids: int,
        horizon_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_ids = max_ids
        self._horizon = horizon_seconds
        self._clock = clock
        bits = 1 << max(16, (max_ids * BITS_PER_ID - 1).bit_length())
        self._mask = bits - 1
        self._size = bits // 8
        self._current = _Generation(self._size, clock())
        self._previous: _Generation | None = None
        self._live: dict[str, Answer | asyncio.Future[Answer]] = {}

    def __len__(self) -> int:
        """How many ids the filter holds (each generation's count; ids past the horizon too
        until their generation is dropped)."""
        self._expire(self._clock())
        previous = self._previous.count if self._previous is not None else 0
        return self._current.count + previous

    @property
    def live(self) -> int:
        """Ids claimed, or journaled and not yet stored."""
        return len(self._live)

    def lookup(self, event_id: str) -> Seen | None:
        """The id's future or answer while live; ASK_STORE if the filter may hold it (the store
        says whether it does); None for an id never seen within the horizon."""
        live = self._live.get(event_id)
        if live is not None:
            return live
        return ASK_STORE if self._may_hold(event_id) else None

    def claim(self, event_id: str) -> asyncio.Future[Answer]:
        """Reserve an id; settle the returned future with `settle`, `found` or `release`."""
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._live[event_id] = future
        return future

    def settle(self, answers: Iterable[Answer]) -> None:
        """The ids' events are journaled: answer their waiters and keep the answers until
        `stored`. An id that was never claimed (one this server generated, which nobody could
        have sent before) is entered the same way."""
        live = self._live
        event_ids = []
        for answer in answers:
            event_id = answer.event_id
            waiting = live.get(event_id)
            if isinstance(waiting, asyncio.Future) and not waiting.done():
                waiting.set_result(answer)
            live[event_id] = answer
            event_ids.append(event_id)
        self._add(event_ids)

    def found(self, answer: Answer) -> None:
        """A claimed id turned out to be stored already: its waiters get the stored answer, and
        the store answers for it from now on."""
        live = self._live.pop(answer.event_id, None)
        if isinstance(live, asyncio.Future) and not live.done():
            live.set_result(answer)

    def held(self, answers: Iterable[Answer]) -> None:
        """The journal already held these ids (a copy sent to another instance, on JetStream):
        their waiters get the first copy's answer and the filter remembers the ids, but no answer
        is kept, since the first copy may have been stored long ago and no `stored` would come
        for it; a later copy asks the store, then the journal."""
        event_ids = []
        for answer in answers:
            self.found(answer)
            event_ids.append(answer.event_id)
        self._add(event_ids)

    def release(self, event_id: str, error: BaseException) -> None:
        """The claim failed (nothing was written): forget the id, fail whoever waits on it."""
        live = self._live.get(event_id)
        if not isinstance(live, asyncio.Future):
            return
        del self._live[event_id]
        if not live.done():
            live.set_exception(error)
        # Retrieve it so an unawaited failure is not reported as never retrieved.
        live.exception()

    def stored(self, event_ids: Iterable[str]) -> None:
        """The store has these ids now: it answers for them from here on."""
        live = self._live
        for event_id in event_ids:
            if type(live.get(event_id)) is Answer:
                del live[event_id]

    def warm(self, event_ids: list[str]) -> None:
        """Enter ids already stored, newest first as the store lists them, in one call or one
        per chunk, until the horizon holds `max_ids`: the older ones are past it."""
        room = self._max_ids - self._current.count - (self._previous.count if self._previous else 0)
        self._add(event_ids[: max(room, 0)][::-1])

    def _probes(self, event_id: str) -> tuple[int, int, int]:
        # The str's own hash (SipHash, cached on the object, randomised per process) split in
        # two for double hashing; the filter lives and dies with the process, like the hash.
        digest = hash(event_id)
        mask = self._mask
        step = (digest >> 32) | 1
        return digest & mask, (digest + step) & mask, (digest + 2 * step) & mask

    def _add(self, event_ids: list[str]) -> None:
        now = self._clock()
        mask = self._mask
        done = 0
        while done < len(event_ids):
            current = self._current
            if current.count >= self._max_ids or now - current.first_at > self._horizon:
                self._retire(now)
                current = self._current
            room = self._max_ids - current.count
            bits = current.bits
            for event_id in event_ids[done : done + room]:
                digest = hash(event_id)
                step = (digest >> 32) | 1
                for bit in (digest & mask, (digest + step) & mask, (digest + 2 * step) & mask):
                    bits[bit >> 3] |= 1 << (bit & 7)
            taken = min(room, len(event_ids) - done)
            current.count += taken
            current.last_at = now
            done += taken

    def _retire(self, now: float) -> None:
        self._previous = self._current if self._current.count else None
        self._current = _Generation(self._size, now)

    def _expire(self, now: float) -> None:
        if self._previous is not None and now - self._previous.last_at > self._horizon:
            self._previous = None
        if self._current.count and now - self._current.last_at > self._horizon:
            self._current = _Generation(self._size, now)

    def _may_hold(self, event_id: str) -> bool:
        self._expire(self._clock())
        probes = self._probes(event_id)
        for generation in (self._current, self._previous):
            if generation is None or not generation.count:
                continue
            bits = generation.bits
            if all(bits[bit >> 3] & (1 << (bit & 7)) for bit in probes):
                return True
        return False
