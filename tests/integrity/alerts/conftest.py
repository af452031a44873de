"""Fixtures for the alert tests: a real SQLite store in tmp_path and a fresh secret."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from signals.store.sqlite.store import SqliteStore


@pytest.fixture
def secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "signals.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(db_path)
    try:
        yield opened
    finally:
        await opened.aclose()
