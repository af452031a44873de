"""Instants written once: integer epoch microseconds (UTC) and RFC 3339 strings.

Integers keep range filters, bucket arithmetic, window edges and keyset cursors exact: float
seconds lose exactness at the window edge (`(t + 5.0) - 5.0 != t` for many epoch times), while
integer microseconds below 2**53 are exact in Python and in Redis's double scores alike. The
RFC 3339 string a record arrived with is stored beside them unchanged, so nothing is reformatted
on the way back. Every instant `signals` writes is UTC with microseconds and a `Z`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)
MICROS_PER_SECOND = 1_000_000


def micros(seconds: float) -> int:
    """Epoch (or elapsed) seconds as integer microseconds."""
    return round(seconds * MICROS_PER_SECOND)


def us_of(moment: datetime) -> int:
    """Epoch microseconds of an aware datetime, exactly (no float on the way)."""
    return (moment - EPOCH) // ONE_MICROSECOND


def to_us(rfc3339: str) -> int:
    """Epoch microseconds of an RFC 3339 instant; one without an offset is taken as UTC.

    Naive times are accepted rather than refused because the store is a rebuildable view of the
    journal: a record it refused would stop the consumer at that line for good.
    """
    parsed = datetime.fromisoformat(rfc3339)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return us_of(parsed)


def from_us(us: int) -> str:
    """RFC 3339 UTC with microseconds and a `Z`, the shape of `Record.received_at`."""
    moment = EPOCH + timedelta(microseconds=us)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def rfc3339(seconds: float) -> str:
    """Epoch seconds (`time.time()`) as `from_us` writes them."""
    return from_us(micros(seconds))


_second = [-1, ""]  # the last whole second formatted, and its text


def utc_now() -> str:
    """Now, as `from_us` writes instants. Once per event: the date and time of day are
    formatted once per second, the microseconds appended."""
    seconds, fraction = divmod(time.time_ns() // 1000, MICROS_PER_SECOND)
    if seconds != _second[0]:
        _second[:] = [seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))]
    return f"{_second[1]}.{fraction:06d}Z"
