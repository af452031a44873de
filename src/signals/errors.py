"""Every failure `signals` expects and can explain, as one tree.

    SignalsError                  base: a message fit for an operator, never a traceback
    ├── SettingsError             the settings cannot be used; one line per problem (exit 2)
    ├── UsageError                a command's arguments cannot be used (exit 2)
    │   └── DatasetError          `signals evaluate` was given a file that is not a labelled set
    ├── DependencyUnavailable     a server we need (Redis, PostgreSQL) cannot be used; names its
    │                             URL with the password masked (exit 1)
    ├── PortUnavailable           an address to listen on is taken or not ours (exit 1)
    ├── FilesUnusable             `data_dir` or a file in it cannot be created or written (exit 1)
    ├── SchemaTooNew              the store was written by a newer `signals` (exit 1)
    ├── StreamRefused             the JetStream journal cannot be used as configured: no
    │                             JetStream on the server, or a stream whose settings disagree
    │                             with ours (exit 1)
    ├── JournalError              an append was not (or may not have been) made durable; an
    │   │                         `OSError` too, carrying the errno (ENOSPC, EIO, ...)
    │   ├── JournalUnavailable    a write or fsync failed (disk full, I/O error), or JetStream
    │   │                         did not acknowledge: nothing of the group was acknowledged,
    │   │                         and appends fail until one succeeds
    │   ├── JournalClosed         the journal is closed or its writer stopped: nothing written
    │   ├── JournalLocked         another process holds the journal directory
    │   └── JournalCorrupt        a complete line in a segment is not a record: file and offset
    └── StoreUnavailable          the store did not answer a query (PostgreSQL lost, SQLite busy
                                  or failing); names no URL or path (it reaches clients)

The CLI (`signals.__main__`) is the only place these become exit statuses; while serving, the
request path turns a `JournalError` and a `StoreUnavailable` into 503 `unavailable`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self


class SignalsError(Exception):
    """A failure with a message an operator can act on."""


class SettingsError(SignalsError):
    """The settings cannot be used; `problems` holds one line per mistake."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class UsageError(SignalsError):
    pass


class DependencyUnavailable(SignalsError):
    """A server cannot be used at start; `url` is already masked (no password in it)."""

    def __init__(self, what: str, url: str, reason: str) -> None:
        super().__init__(f"cannot reach {what} at {url}: {reason}")
        self.what = what
        self.url = url
        self.reason = reason


class PortUnavailable(SignalsError):
    pass


class FilesUnusable(SignalsError):
    pass


class SchemaTooNew(SignalsError):
    """The database was written by a newer version of `signals` than this one."""


class StreamRefused(SignalsError):
    """The JetStream server or stream cannot serve as the journal: the message says how to fix."""


class DatasetError(UsageError):
    pass


class JournalError(SignalsError, OSError):
    @classmethod
    def wrapping(cls, exc: OSError, what: str) -> Self:
        if exc.errno is None:
            error = cls(f"{what}: {exc}")
        else:
            error = cls(exc.errno, f"{what}: {exc.strerror or exc}")
        error.__cause__ = exc
        return error


class JournalUnavailable(JournalError):
    """Nothing of the append was acknowledged: the local journal's write or fsync failed, or
    JetStream did not acknowledge (not connected, no quorum, refused or too slow). On JetStream
    the events may still have been stored: a retry then answers `duplicate`."""


class JournalClosed(JournalError):
    pass


class JournalLocked(JournalError):
    pass


class JournalCorrupt(JournalError):
    """Damage inside the journal, not a torn tail (that is repaired at start): never guessed at."""

    def __init__(self, path: Path, offset: int, reason: str) -> None:
        super().__init__(
            f"journal file {path} is damaged at byte {offset} ({reason}): the records before it "
            "are intact; copy the file aside, then cut it at that offset (truncate -s "
            f"{offset} {path}) to start without the damaged rest, or restore it from a backup"
        )
        self.path = path
        self.offset = offset


class StoreUnavailable(SignalsError):
    """A query the store could not answer because it cannot be reached or used right now."""
