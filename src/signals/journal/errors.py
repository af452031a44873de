"""What the journal raises.

    JournalError (OSError)     an append was not (or may not have been) made durable
    └── JournalClosed          the journal is closed or its writer stopped: nothing was written

A failed write raises `JournalError` carrying the OS error's errno, with the OS error as its
cause, so a caller can answer 503 for any `JournalError` and still tell a full disk (ENOSPC) from
a failing one (EIO).
"""

from __future__ import annotations


class JournalError(OSError):
    @classmethod
    def wrapping(cls, exc: OSError, what: str) -> JournalError:
        if exc.errno is None:
            error = cls(f"{what}: {exc}")
        else:
            error = cls(exc.errno, f"{what}: {exc.strerror or exc}")
        error.__cause__ = exc
        return error


class JournalClosed(JournalError):
    pass
