"""In CI (`CI=true`) a test that cannot run here fails instead of skipping: a green CI run must
mean that PostgreSQL, Chromium, strace, promtool and a mountable tmpfs were really there and
every test really ran.

Elsewhere (a laptop without PostgreSQL) such a test is skipped, saying what it needs.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def cannot_run(reason: str) -> NoReturn:
    """Skip with `reason`, or fail with it under CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a test that cannot run fails)", pytrace=False)
    pytest.skip(reason)
