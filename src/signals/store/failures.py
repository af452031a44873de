"""Which store errors mean "the database cannot be used right now" rather than a bug.

Both backends raise their driver's errors. `is_store_failure(exc)` sorts them: a lost or refused
connection (`OSError`, asyncpg's connection and interface errors), a timeout, a server that is
shutting down or starting (SQLSTATE class 57), out of resources (class 53: disk full, too many
connections), and SQLite's busy, locked, I/O, full and can't-open results. A syntax error, a
constraint violation or a type mismatch is none of these: that is a bug, and stays a 500.
"""

from __future__ import annotations

import sqlite3

import asyncpg

from signals.errors import StoreUnavailable

_FAILURES: tuple[type[BaseException], ...] = (
    StoreUnavailable,
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # 57P01 admin shutdown, 57P03 starting up
    asyncpg.exceptions.InsufficientResourcesError,
)
# Primary result codes (the low byte of an extended code).
_SQLITE_FAILURES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_READONLY,
    }
)


def is_store_failure(exc: BaseException) -> bool:
    if isinstance(exc, _FAILURES):
        return True
    if isinstance(exc, sqlite3.DatabaseError):
        code = getattr(exc, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _SQLITE_FAILURES
    return False
