"""Instants: RFC 3339 to epoch microseconds and back, exactly."""

from __future__ import annotations

import pytest

from signals.instants import from_us, to_us


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T00:00:00.000001Z", 1),
        ("1969-12-31T23:59:59.999999Z", -1),
        ("2025-01-06T10:00:00.123456Z", 1_736_157_600_123_456),
        ("2025-01-06T12:00:00.123456+02:00", 1_736_157_600_123_456),
        ("2025-01-06T10:00:00.123456", 1_736_157_600_123_456),  # no offset: UTC
        ("2025-01-06T10:00:00.5Z", 1_736_157_600_500_000),
    ],
)
def test_to_us(text: str, micros: int) -> None:
    assert to_us(text) == micros


@pytest.mark.parametrize("micros", [0, 1, -1, 1_736_157_600_123_456, 253_402_300_799_999_999])
def test_from_us_round_trips(micros: int) -> None:
    text = from_us(micros)
    assert text.endswith("Z")
    assert len(text) == len("2025-01-06T10:00:00.123456Z")
    assert to_us(text) == micros


@pytest.mark.parametrize("text", ["", "yesterday", "2025-13-01T00:00:00Z"])
def test_not_an_instant(text: str) -> None:
    with pytest.raises(ValueError):
        to_us(text)
