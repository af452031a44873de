"""Each key's current episode in Redis, so instances that share Redis windows run ONE episode
per burst, and so raise one alert per episode and severity (SPEC §9).

Counts are already shared (the window step is atomic in Redis); episode transitions are made by
each instance's `EpisodeTracker`, which here only caches the shared state. A consumer step
(see `signals.detection`) reads the state of its batch's keys (`load`: one MGET), lets its
tracker take it over, runs the pure transitions, and writes the keys that changed back with
`save`: one script, compare-and-set on every key at once, all or nothing. When another instance
changed one of those keys in between, nothing is written and the step runs again on the fresh
state. So every transition, an escalation included, happens on exactly one instance.

The value of a key (`{prefix}:ep:{len(user_id)}:{user_id}:{signal_type}`, the windows' layout)
is the episode as JSON: open, or closed (a tombstone, so instances that still hold it know it
ended). Both expire `windows.seconds + windows.ttl_seconds` after their last write; no key of a
running burst is older than a window, and a tombstone only needs to outlive the other
instances' copies, which their sweeps close within a window or two.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import msgspec
from redis.asyncio import Redis

from signals.anomaly.episode import Episode

Key = tuple[str, str]  # (user_id, signal_type)

# KEYS: episode keys. ARGV[1]: expiry (ms); then per key i, ARGV[2i] the value it was read with
# ("" when it had none) and ARGV[2i+1] its new value. Returns 0 when all were written, else the
# index of the first key whose value had changed since (and nothing is written).
SAVE_SCRIPT = """
for i, key in ipairs(KEYS) do
  if (redis.call('GET', key) or '') ~= ARGV[2 * i] then
    return i
  end
end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[2 * i + 1], 'PX', ARGV[1])
end
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
        self, client: Redis, key_prefix: str, window_seconds: float, ttl_seconds: int
    ) -> None:
        self._client = client
        self._prefix = key_prefix
        self._script = client.register_script(SAVE_SCRIPT)
        self._expiry_ms = round((window_seconds + ttl_seconds) * 1000)

    def key(self, key: Key) -> bytes:
        user_id, signal_type = key
        # surrogatepass: a lone surrogate in an id still makes a distinct key instead of an error
        text = f"{self._prefix}:ep:{len(user_id)}:{user_id}:{signal_type}"
        return text.encode("utf-8", "surrogatepass")

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
        args: list[bytes | int] = [self._expiry_ms]
        for write in writes:
            args += [write.read.raw, _encoder.encode(write.episode)]
        conflict = await self._script(keys=[self.key(w.key) for w in writes], args=args)
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
