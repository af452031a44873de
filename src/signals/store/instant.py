"""Instants as the stores index them: integer epoch microseconds (UTC), from and to RFC 3339.

Integers keep range filters, bucket arithmetic and keyset cursors exact; the RFC 3339 string a
record arrived with is stored beside them unchanged, so nothing is reformatted on the way back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)
MICROS_PER_SECOND = 1_000_000


def to_us(rfc3339: str) -> int:
    """Epoch microseconds of an RFC 3339 instant; one without an offset is taken as UTC.

    Naive times are accepted rather than refused because the store is a rebuildable view of the
    journal: a record it refused would stop the consumer at that line for good.
    """
    parsed = datetime.fromisoformat(rfc3339)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - EPOCH) // ONE_MICROSECOND


def from_us(us: int) -> str:
    """RFC 3339 UTC with microseconds and a `Z`, the shape of `Record.received_at`."""
    moment = EPOCH + timedelta(microseconds=us)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")
