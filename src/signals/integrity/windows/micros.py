"""Window times as integer microseconds, the unit both backends compare in.

Float seconds lose exactness at the window edge (`(t + 5.0) - 5.0 != t` for many epoch times), so
an event exactly `seconds` after another could count it in one backend and not in the other.
Integer microseconds below 2**53 are exact in Python and in Redis's double scores alike.
"""

from __future__ import annotations

MICROS = 1_000_000


def micros(at: float) -> int:
    """Epoch seconds (as `epoch_seconds(received_at)` gives them) to integer microseconds."""
    return round(at * MICROS)
