"""Each key's current episode in Redis, so instances that share Redis windows run ONE episode
per burst, and so raise one alert per episode and severity (docs/semantics.md).

Counts are already shared (the window step is atomic in Redis); episode transitions are made by
each instance's `EpisodeTracker`, which here only caches the shared state. A consumer step
(see `signals.integrity.detection`) reads the state of its batch's keys (`load`: one MGET), lets its
tracker take it over, runs the pure transitions, and writes the keys that changed back with
`save`: one script, compare-and-set on every key at once, all or nothing. When another instance
changed one of those keys in between, nothing is written and the step runs again on the fresh
state. So every transition, an escalation included, happens on exactly one instance.

The value of a key (`{prefix}:ep:{len(user_id)}:{user_id}:{signal_type}`, the windows' layout)
is the episode as JSON: open, or closed (a tombstone, so instances that still hold it know it
ended). Both expire `windows.seconds + windows.ttl_seconds` after their last write; no key of a
running burst is older than a window, and a tombstone only needs to outlive the other
instances' copies, which their sweeps close within a window or two.

`{prefix}:ep-open` indexes the open ones (a sorted set, scored by when they expire), so a step
reads only the keys that can matter to it: those it counted above their threshold, those its
tracker holds, and those open on another instance (which its quiet event may close). Reading the
index is one small round trip; a step touching no such key costs nothing more.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import NamedTuple, cast

import msgspec
from redis.asyncio import Redis

from signals.records.episode import Episode

Key = tuple[str, str]  # (user_id, signal_type)

# KEYS[1]: the index of open episodes, then the episode keys. ARGV[1]: expiry (ms), ARGV[2]: now
# (epoch ms); then for the i-th episode key, ARGV[3i] the value it was read with ("" when it had
# none), ARGV[3i+1] its new value, ARGV[3i+2] "1" when that episode is open. Returns 0 when all
# were written, else the index of the first key whose value had changed since (nothing written).
SAVE_SCRIPT = """
local count = #KEYS - 1
for i = 1, count do
  if (redis.call('GET', KEYS[i + 1]) or '') ~= ARGV[3 * i] then
    return i
  end
end
local expires = tonumber(ARGV[2]) + tonumber(ARGV[1])
for i = 1, count do
  redis.call('SET', KEYS[i + 1], ARGV[3 * i + 1], 'PX', ARGV[1])
  if ARGV[3 * i + 2] == '1' then
    redis.call('ZADD', KEYS[1], expires, KEYS[i + 1])
  else
    redis.call('ZREM', KEYS[1], KEYS[i + 1])
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 0
"""

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Episode)


class Shared(NamedTuple):
    """A key's state as read: `raw` is compared when writing it back (b"" when it had none)."""

    raw: bytes
    episode: Episode | None


class Write(NamedTuple):
    key: Key
    read: Shared
    episode: Episode  # open, or closed (the key's tombstone)


class SharedEpisodes:
    """The shared state, on a Redis client that someone else owns and closes."""

    def __init__(
        self,
        client: Redis,
        key_prefix: str,
        window_seconds: float,
        ttl_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._prefix = key_prefix
        self._script = client.register_script(SAVE_SCRIPT)
        self._expiry_ms = round((window_seconds + ttl_seconds) * 1000)
        self._index = f"{key_prefix}:ep-open".encode("utf-8", "surrogatepass")
        self._clock = clock

    def key(self, key: Key) -> bytes:
        user_id, signal_type = key
        # surrogatepass: a lone surrogate in an id still makes a distinct key instead of an error
        text = f"{self._prefix}:ep:{len(user_id)}:{user_id}:{signal_type}"
        return text.encode("utf-8", "surrogatepass")

    async def open_keys(self) -> set[bytes]:
        """The keys (as `key` makes them) of the episodes open now, on any instance."""
        now_ms = round(self._clock() * 1000)
        # Members only (no scores), as bytes: the windows' client does not decode responses.
        members = cast("list[bytes]", await self._client.zrangebyscore(self._index, now_ms, "+inf"))
        return set(members)

    async def load(self, keys: Sequence[Key]) -> list[Shared]:
        """The state of each key, in order. Raises redis-py's errors."""
        if not keys:
            return []
        values = await self._client.mget([self.key(key) for key in keys])
        found = []
        for value in values:
            if value is None:
                found.append(Shared(b"", None))
            else:
                raw = value.encode() if isinstance(value, str) else value  # decode_responses
                found.append(Shared(raw, _episode(raw)))
        return found

    async def save(self, writes: Sequence[Write]) -> bool:
        """Write every one, or none if any key changed since it was read. Raises redis-py's
        errors."""
        if not writes:
            return True
        args: list[bytes | int] = [self._expiry_ms, round(self._clock() * 1000)]
        for write in writes:
            is_open = write.episode.closed_at is None
            args += [write.read.raw, _encoder.encode(write.episode), int(is_open)]
        keys = [self._index, *(self.key(w.key) for w in writes)]
        conflict = await self._script(keys=keys, args=args)
        return int(conflict) == 0


def _episode(raw: bytes) -> Episode | None:
    try:
        return _decoder.decode(raw)
    except msgspec.DecodeError:
        # Not ours to read (another version, a hand edit): as if absent; the next write of the
        # key replaces it, since `raw` is what that write expects to find.
        return None


def adopt(local: Episode | None, shared: Shared) -> Episode | None:
    """The episode a tracker should hold for a key, given its own and the shared state.

    The shared one when it is open. A tombstone ends the local copy of that same episode. A
    local episode Redis does not know (opened while Redis was lost, or restored from the store)
    is kept, and is written to Redis with the step's other changes.
    """
    theirs = shared.episode
    if theirs is None:
        return local
    if theirs.closed_at is None:
        return theirs
    if local is not None and local.id == theirs.id:
        return None
    return local
