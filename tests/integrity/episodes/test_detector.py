"""The anomaly decision, as a table: count against threshold (docs/semantics.md)."""

from __future__ import annotations

import pytest

from signals.integrity.episodes.severity import severity_for


@pytest.mark.parametrize(
    ("count", "threshold", "severity"),
    [
        (0, 10, None),
        (1, 10, None),
        (10, 10, None),  # at the threshold is not over it
        (11, 10, "warning"),
        (14, 10, "warning"),
        (15, 10, "critical"),  # exactly 1.5 x threshold
        (1000, 10, "critical"),
        (1, 1, None),
        (2, 1, "critical"),  # 2 >= 1.5
        (2, 2, None),
        (3, 2, "critical"),
        (4, 3, "warning"),
        (5, 3, "critical"),  # 5 >= 4.5
        (10, 7, "warning"),  # 10 < 10.5
        (11, 7, "critical"),
        (149_999, 100_000, "warning"),
        (150_000, 100_000, "critical"),
        # integers, so no float rounding moves the boundary (1.5 * T as a float would say critical)
        (15_000_000_000_000_000_002, 10_000_000_000_000_000_002, "warning"),
        (15_000_000_000_000_000_003, 10_000_000_000_000_000_002, "critical"),
    ],
)
def test_severity_for(count: int, threshold: int, severity: str | None) -> None:
    assert severity_for(count, threshold) == severity
