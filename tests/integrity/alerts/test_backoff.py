"""Retry delays: capped, fully jittered, growing with the attempts (pure functions)."""

from __future__ import annotations

import random
from statistics import mean

import pytest

from signals.integrity.alerts.backoff import ceiling, delay


@pytest.mark.parametrize(
    ("attempts", "base", "cap", "expected"),
    [
        (1, 1.0, 300.0, 1.0),
        (2, 1.0, 300.0, 2.0),
        (3, 1.0, 300.0, 4.0),
        (9, 1.0, 300.0, 256.0),
        (10, 1.0, 300.0, 300.0),
        (1, 0.05, 300.0, 0.05),
        (4, 0.05, 300.0, 0.4),
        (3, 1.0, 2.5, 2.5),
        (1, 10.0, 2.5, 2.5),  # the cap bounds even the first delay
        (10_000, 1.0, 300.0, 300.0),  # no overflow however many attempts
    ],
)
def test_ceiling_doubles_then_caps(attempts: int, base: float, cap: float, expected: float) -> None:
    assert ceiling(attempts, base, cap) == pytest.approx(expected)


def test_delay_spans_zero_to_the_ceiling() -> None:
    assert delay(3, 1.0, 300.0, lambda: 0.0) == 0.0
    assert delay(3, 1.0, 300.0, lambda: 0.5) == pytest.approx(2.0)
    top = delay(3, 1.0, 300.0, lambda: 1.0 - 1e-12)
    assert 3.99 < top < 4.0


def test_delays_are_jittered_bounded_and_grow_until_the_cap() -> None:
    rng = random.Random(7)
    means = []
    for attempts in range(1, 9):
        samples = [delay(attempts, 1.0, 60.0, rng.random) for _ in range(2000)]
        assert all(0.0 <= sample <= ceiling(attempts, 1.0, 60.0) for sample in samples)
        assert len(set(samples)) > 1900  # jittered: not one fixed schedule
        means.append(mean(samples))
    assert means[:6] == sorted(means[:6])  # 1, 2, 4 ... 32: still growing
    assert means[6] == pytest.approx(30.0, rel=0.1)  # capped at 60: mean is half the cap
    assert means[7] == pytest.approx(30.0, rel=0.1)


@pytest.mark.parametrize(
    ("attempts", "base", "cap"), [(0, 1.0, 10.0), (1, 0.0, 10.0), (1, 1.0, 0.0), (1, -1.0, 1.0)]
)
def test_nonsense_arguments_are_refused(attempts: int, base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        ceiling(attempts, base, cap)
