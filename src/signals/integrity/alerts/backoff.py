"""Retry delays: capped exponential backoff with full jitter.

After the n-th failed attempt (n >= 1) the ceiling is `min(cap, base * 2 ** (n - 1))` and the
delay is drawn uniformly from [0, ceiling]. Full jitter rather than a fixed schedule so that many
deliveries failing together (a receiver outage) do not come back together and fail again.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable

# 2 ** 64 seconds is far beyond any cap; stopping the exponent there keeps floats finite.
_MAX_EXPONENT = 64


def ceiling(attempts: int, base: float, cap: float) -> float:
    """The largest delay after `attempts` failed attempts."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    if base <= 0 or cap <= 0:
        raise ValueError("base and cap must be positive")
    return min(cap, base * 2.0 ** min(attempts - 1, _MAX_EXPONENT))


def delay(
    attempts: int,
    base: float,
    cap: float,
    random: Callable[[], float] = _random.random,
) -> float:
    """A jittered delay in [0, ceiling(attempts, base, cap)]; `random` returns [0, 1)."""
    return ceiling(attempts, base, cap) * random()
