"""Sliding windows in this process: the Redis backend's semantics without Redis.

Adding an event to its key first drops the key's events at or before `at - window`, then adds the
event unless its id is already there, then counts what is left: step for step the Redis script's
ZREMRANGEBYSCORE, ZADD NX, ZCARD. `add` never awaits, so concurrent callers cannot interleave.

Memory stays bounded with any number of distinct users: keys are kept in least-recently-used
order, and after each batch the keys idle for `ttl_seconds` are dropped from the front, in
O(evicted). Idleness is measured against the newest event time seen, not the wall clock, so the
windows hold no clock of their own. One batch evicts at most `EVICT_PER_BATCH` keys or twice its
size, whichever is more: that outpaces key creation (one key per event at most), yet a burst of
idleness (traffic resuming after a quiet spell) is cleared over a few batches instead of one
long stall. `max_keys` caps the key count whatever the traffic.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Sequence

from signals.instants import MICROS_PER_SECOND as MICROS
from signals.instants import micros
from signals.integrity.windows.base import WindowEvent, WindowsStatus
from signals.settings import WindowsSettings

# Up to this many live events a key's ids are searched in their list; past it a set answers, so
# a hot key stays O(1) per event without paying a set for each of millions of quiet keys.
SMALL_WINDOW = 16
EVICT_PER_BATCH = 10_000
# A dict never shrinks its table: once the keys fall below 1/8 of their peak (and the peak was
# big enough to matter), the table is rebuilt at the smaller size, O(keys left), so amortised.
SHRINK_FROM_KEYS = 65_536


class _Window:
    """One key's live events: times ascending (microseconds) and their ids, side by side.

    Events before `head` are dead. Quiet keys compact on every trim (head stays 0); a hot key
    compacts only once half its list is dead, so trimming is amortised O(1) per event.
    """

    __slots__ = ("head", "ids", "members", "times")

    def __init__(self, at: int, event_id: str) -> None:
        self.times = [at]
        self.ids = [event_id]
        self.head = 0
        self.members: set[str] | None = None

    @property
    def newest(self) -> int:
        return self.times[-1]

    def add(self, at: int, event_id: str, cutoff: int) -> int:
        self._trim(cutoff)
        held = event_id in self.members if self.members is not None else event_id in self.ids
        if not held:
            self._insert(at, event_id)
        return len(self.times) - self.head

    def live(self, cutoff: int) -> list[tuple[int, str]]:
        start = bisect_right(self.times, cutoff, self.head)
        return list(zip(self.times[start:], self.ids[start:], strict=True))

    def _trim(self, cutoff: int) -> None:
        times, ids = self.times, self.ids
        end = bisect_right(times, cutoff, self.head)
        if end == self.head:
            return
        if self.members is not None:
            self.members.difference_update(ids[self.head : end])
        self.head = end
        if self.members is None or 2 * end >= len(times):
            del times[:end], ids[:end]
            self.head = 0
            if len(times) <= SMALL_WINDOW:
                self.members = None

    def _insert(self, at: int, event_id: str) -> None:
        times, ids = self.times, self.ids
        if not times or at >= times[-1]:
            times.append(at)
            ids.append(event_id)
        else:  # an event older than the newest one held: keep the times sorted
            index = bisect_right(times, at, self.head)
            times.insert(index, at)
            ids.insert(index, event_id)
        if self.members is not None:
            self.members.add(event_id)
        elif len(times) > SMALL_WINDOW:
            self.members = set(ids[self.head :])


class MemoryWindows:
    """Windows per (user_id, signal_type) in this process; see the module docstring."""

    def __init__(self, settings: WindowsSettings) -> None:
        self._window = micros(settings.seconds)
        self._ttl = settings.ttl_seconds * MICROS
        self._max_keys = settings.max_keys
        self._keys: OrderedDict[tuple[str, str], _Window] = OrderedDict()
        self._peak_keys = 0  # since the table was last rebuilt
        self._newest = 0  # the newest event time seen: the clock idleness is measured by

    @property
    def status(self) -> WindowsStatus:
        return "ok"

    @property
    def key_count(self) -> int:
        """How many keys are held (live or not yet evicted)."""
        return len(self._keys)

    async def add(self, events: Sequence[WindowEvent]) -> list[int]:
        keys = self._keys
        counts = []
        for user_id, signal_type, event_id, at_seconds in events:
            at = micros(at_seconds)
            key = (user_id, signal_type)
            window = keys.get(key)
            if window is None:
                keys[key] = _Window(at, event_id)
                counts.append(1)
                if len(keys) > self._max_keys:
                    keys.popitem(last=False)
                self._peak_keys = max(self._peak_keys, len(keys))
            else:
                keys.move_to_end(key)
                counts.append(window.add(at, event_id, at - self._window))
            self._newest = max(self._newest, at)
        self.evict_idle(max(EVICT_PER_BATCH, 2 * len(events)))
        return counts

    def evict_idle(self, limit: int | None = None) -> int:
        """Drop keys with no event in the last `ttl_seconds` (up to `limit`); returns how many."""
        horizon = self._newest - self._ttl
        keys = self._keys
        evicted = 0
        while keys and evicted != limit:
            key = next(iter(keys))
            if keys[key].newest > horizon:
                break
            del keys[key]
            evicted += 1
        if self._peak_keys >= SHRINK_FROM_KEYS and 8 * len(keys) < self._peak_keys:
            self._keys = OrderedDict(keys)
            self._peak_keys = len(keys)
        return evicted

    def live_events(self) -> list[WindowEvent]:
        """Every event still inside its key's window as of the newest event seen."""
        cutoff = self._newest - self._window
        return [
            WindowEvent(user_id, signal_type, event_id, at / MICROS)
            for (user_id, signal_type), window in self._keys.items()
            for at, event_id in window.live(cutoff)
        ]

    def clear(self) -> None:
        self._keys = OrderedDict()
        self._peak_keys = 0
        self._newest = 0

    async def aclose(self) -> None:
        self.clear()
