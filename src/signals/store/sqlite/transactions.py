"""The SQLite store's two kinds of transaction: writes on the writer, snapshots on the reader.

Writes take SQLite's write lock up front (BEGIN IMMEDIATE), so a busy file fails at the start,
not halfway, and what a transaction reads before it writes (the MAX(seq) of `SqliteStore.apply`)
stays true until it commits; they are rolled back on any error or cancellation. A snapshot is a
read transaction on the reader connection: every statement in it sees the same committed state,
whatever commits meanwhile (WAL). The reader connection is shared, so snapshots take turns
(`lock`); other reads that run on it during one simply see that snapshot too.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import aiosqlite


@asynccontextmanager
async def write_transaction(conn: aiosqlite.Connection) -> AsyncIterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error or cancellation."""
    await conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        await conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            await conn.rollback()
        raise


@contextmanager
def write_transaction_on_thread(db: sqlite3.Connection) -> Iterator[None]:
    """`write_transaction` for code already on the connection's thread (`sqlite.apply`)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.rollback()
        raise


@asynccontextmanager
async def snapshot(conn: aiosqlite.Connection, lock: asyncio.Lock) -> AsyncIterator[None]:
    async with lock:
        await conn.execute("BEGIN")
        try:
            yield
        finally:
            # Shielded: a cancelled caller must not leave the shared reader inside a transaction.
            await asyncio.shield(conn.execute("COMMIT"))
