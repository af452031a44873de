"""What only the SQLite store promises: its file, its schema versions, its lifecycle."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from signals.errors import SchemaTooNew
from signals.store.base import Batch, SignalQuery
from signals.store.rollup import COUNT_LEVELS, COUNT_TABLES, USER_LEVELS, USER_TABLES
from signals.store.sqlite.schema import MIGRATIONS
from signals.store.sqlite.store import SqliteStore

from .samples import BASE_US, record

DAY_US = 86_400 * 1_000_000


def pragma(path: Path, name: str) -> Any:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {row[0] for row in rows}


async def test_open_creates_the_file_its_directories_and_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "signals.db"
    async with await SqliteStore.open(path) as store:
        await store.ping()
    assert pragma(path, "journal_mode") == "wal"
    assert pragma(path, "user_version") == len(MIGRATIONS)
    assert {"events", "episodes", "deliveries", "checkpoints"} <= tables(path)


async def test_every_rollup_level_has_its_table(tmp_path: Path) -> None:
    path = tmp_path / "signals.db"
    async with await SqliteStore.open(path):
        pass
    assert set(COUNT_TABLES) == set(COUNT_LEVELS)
    assert set(USER_TABLES) == set(USER_LEVELS)
    assert {*COUNT_TABLES.values(), *USER_TABLES.values()} <= tables(path)


async def test_reopening_applies_no_migration_twice(tmp_path: Path) -> None:
    path = tmp_path / "signals.db"
    async with await SqliteStore.open(path) as store:
        await store.apply(Batch(records=[record(1)]))
    async with await SqliteStore.open(path) as store:
        assert len((await store.signals(SignalQuery())).items) == 1
    assert pragma(path, "user_version") == len(MIGRATIONS)


async def test_a_newer_schema_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "signals.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(SchemaTooNew, match="newer"):
        await SqliteStore.open(path)
    assert pragma(path, "user_version") == len(MIGRATIONS) + 1
    assert tables(path) == set()


async def test_a_failed_migration_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "signals.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE deliveries (unrelated TEXT)")  # a foreign file in the way
    with pytest.raises(sqlite3.OperationalError, match="deliveries"):
        await SqliteStore.open(path)
    assert pragma(path, "user_version") == 0
    assert tables(path) == {"deliveries"}


async def test_not_a_database_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "signals.db"
    path.write_bytes(b"this is not an SQLite file, but it is long enough to have a header" * 100)
    with pytest.raises(sqlite3.DatabaseError):
        await SqliteStore.open(path)


async def test_batch_max_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="batch_max"):
        await SqliteStore.open(tmp_path / "signals.db", batch_max=0)


async def test_aclose_twice_is_harmless(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "signals.db")
    await store.aclose()
    await store.aclose()


async def test_a_closed_store_refuses_to_work(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "signals.db")
    await store.aclose()
    with pytest.raises(ValueError):  # sqlite3's and aiosqlite's error for a closed connection
        await store.apply(Batch(records=[record(1)]))
    with pytest.raises(ValueError):
        await store.ping()


async def test_a_new_file_gives_pruned_space_back(tmp_path: Path) -> None:
    path = tmp_path / "signals.db"
    text = "a long message that takes some room in the file " * 40
    async with await SqliteStore.open(path) as store:
        assert pragma(path, "auto_vacuum") == 2  # incremental, from the first page
        for batch in range(6):
            records = [record(-40 * 86_400 + batch * 600 + n, text=text) for n in range(500)]
            await store.apply(Batch(records=records))
        full = pragma(path, "page_count")
        cutoff = (BASE_US // DAY_US - 10) * DAY_US
        while await store.prune(cutoff, 1000):
            pass
        assert pragma(path, "freelist_count") > 0
        while await store.reclaim(256):
            pass
        assert pragma(path, "freelist_count") == 0
        assert full > 4 * pragma(path, "page_count")  # 3000 texts of 2 KB gone from the file
        assert (await store.signals(SignalQuery())).items == []


async def test_retention_leaves_no_rollup_row_of_a_pruned_day(tmp_path: Path) -> None:
    path = tmp_path / "signals.db"
    cutoff = (BASE_US // DAY_US) * DAY_US
    async with await SqliteStore.open(path) as store:
        await store.apply(Batch(records=[record(-2 * 86_400 + n * 97.3) for n in range(900)]))
        await store.apply(Batch(records=[record(n * 61.7) for n in range(300)]))
        assert await store.seal(BASE_US + DAY_US, since_us=0) > 0
        while await store.prune(cutoff, 100):
            pass
    with sqlite3.connect(path) as conn:
        for table in {*COUNT_TABLES.values(), *USER_TABLES.values(), "user_seals"}:
            old = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE slot < ?", (cutoff // 10**6,))
            assert old.fetchone()[0] == 0, table
            assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] > 0, table
    conn.close()
