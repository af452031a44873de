"""The abuse limits in Redis, so every instance sharing the Redis shares them.

Each call is one Lua script, atomic in Redis. Failures: a counter per address (INCR; the first
failure sets its expiry to the window). Key rate: a token bucket per key name in a hash (tokens,
time), timed by Redis's own clock so instances with skewed clocks agree. Keys are
`<redis.key_prefix>:auth:fail:<address>` and `<redis.key_prefix>:auth:rate:<key name>`.
Errors are redis-py's, raised to the caller (`Limiter` turns them into a fallback).
"""

from __future__ import annotations

import redis.asyncio

# KEYS[1] counter; ARGV[1] max failures. -> ms left in the window when over the limit, else 0.
BLOCKED_SCRIPT = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count <= tonumber(ARGV[1]) then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then return 0 end
return ttl
"""

# KEYS[1] counter; ARGV[1] window ms. -> {count, ms left in the window}.
FAIL_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""

# KEYS[1] bucket; ARGV[1] rate per second, ARGV[2] burst. -> seconds to wait, as a string
# (a Lua number would reach the client truncated to an integer).
BUCKET_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisLimits:
    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        key_prefix: str,
        max_failures: int,
        window_seconds: float,
    ) -> None:
        self._blocked = client.register_script(BLOCKED_SCRIPT)
        self._fail = client.register_script(FAIL_SCRIPT)
        self._bucket = client.register_script(BUCKET_SCRIPT)
        self._prefix = key_prefix
        self._max_failures = max_failures
        self._window_ms = max(1, round(window_seconds * 1000))

    def failure_key(self, address: str) -> str:
        return f"{self._prefix}:auth:fail:{address}"

    def bucket_key(self, name: str) -> str:
        return f"{self._prefix}:auth:rate:{name}"

    async def blocked_for(self, address: str) -> float:
        left_ms = await self._blocked(keys=[self.failure_key(address)], args=[self._max_failures])
        return int(left_ms) / 1000

    async def fail(self, address: str) -> float:
        count, left_ms = await self._fail(keys=[self.failure_key(address)], args=[self._window_ms])
        return int(left_ms) / 1000 if int(count) > self._max_failures else 0.0

    async def take(self, name: str, rate: float, burst: int) -> float:
        wait = await self._bucket(keys=[self.bucket_key(name)], args=[repr(rate), burst])
        return float(wait)
