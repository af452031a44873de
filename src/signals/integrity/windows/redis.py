"""Sliding windows in Redis sorted sets, shared by every process that uses the same Redis.

One Lua script does a whole batch: for each event in order, ZREMRANGEBYSCORE drops the key's
members at or before `at - window`, ZADD NX adds the event (an id already held keeps its first
time, so a replayed event is not counted twice), ZCARD counts, PEXPIRE lets an idle key expire.
A script runs atomically, so processes sharing Redis get exact counts, and a batch of up to
`MAX_SCRIPT_EVENTS` events is one round trip (larger batches take one per that many).

Scores are integer microseconds (see `signals.instants`). Keys are
`{prefix}:w:{len(user_id)}:{user_id}:{signal_type}`: the length makes the split between user id
and signal type unambiguous, so no user id (colons, spaces, any Unicode, any length) can collide
with another key. Every key of a batch goes in one script call, so this needs a single Redis
(or a proxy that allows multi-key scripts), not Redis Cluster.

Errors are redis-py's, raised to the caller (`FallbackWindows` turns them into a fallback).
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from signals.instants import micros
from signals.integrity.windows.base import WindowEvent, WindowsStatus
from signals.settings import WindowsSettings

# Bounds how long one script holds Redis (a few milliseconds) when a caller hands in a huge batch.
MAX_SCRIPT_EVENTS = 2000

# KEYS[i]: event i's window. ARGV[1]: window (µs), ARGV[2]: ttl (ms), then per event i
# ARGV[2i+1] its time (integer µs) and ARGV[2i+2] its id. Returns the count per event.
# string.format('%d') keeps the cutoff an exact integer (a bare Lua number may be printed
# with too few digits for a 16-digit microsecond score).
WINDOW_SCRIPT = """
local window = tonumber(ARGV[1])
local ttl = ARGV[2]
local counts = {}
for i, key in ipairs(KEYS) do
  local at = ARGV[2 * i + 1]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%d', tonumber(at) - window))
  redis.call('ZADD', key, 'NX', at, ARGV[2 * i + 2])
  counts[i] = redis.call('ZCARD', key)
  redis.call('PEXPIRE', key, ttl)
end
return counts
"""


def _encode(text: str) -> bytes:
    # surrogatepass: a lone surrogate in an id still makes a distinct key instead of an error
    return text.encode("utf-8", "surrogatepass")


class RedisWindows:
    """Windows in Redis, through a client it borrows (the composition root closes it)."""

    def __init__(self, client: Redis, settings: WindowsSettings, key_prefix: str):
        self._client = client
        self._script = client.register_script(WINDOW_SCRIPT)
        self._prefix = key_prefix
        self._window = micros(settings.seconds)
        self._ttl_ms = settings.ttl_seconds * 1000

    @property
    def status(self) -> WindowsStatus:
        return "ok"

    @property
    def client(self) -> Redis:
        """The borrowed client (its owner closes it)."""
        return self._client

    def key(self, user_id: str, signal_type: str) -> bytes:
        return _encode(f"{self._prefix}:w:{len(user_id)}:{user_id}:{signal_type}")

    async def prepare(self) -> None:
        """Load the script now, so a Redis that refuses scripting fails at start, not later."""
        await self._client.script_load(WINDOW_SCRIPT)

    async def ping(self) -> None:
        await self._client.ping()

    async def add(self, events: Sequence[WindowEvent]) -> list[int]:
        counts: list[int] = []
        for start in range(0, len(events), MAX_SCRIPT_EVENTS):
            chunk = events[start : start + MAX_SCRIPT_EVENTS]
            keys = [self.key(event.user_id, event.signal_type) for event in chunk]
            args: list[int | bytes] = [self._window, self._ttl_ms]
            for event in chunk:
                args += (micros(event.at), _encode(event.event_id))
            result = await self._script(keys=keys, args=args)
            counts += (int(count) for count in result)
        return counts

    async def aclose(self) -> None:
        """Nothing to release: the client is borrowed."""
