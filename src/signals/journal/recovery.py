"""Opening a journal directory after a clean stop or a crash.

The directory is locked first (`journal.lock`, an exclusive `flock`), so a second process can
never append to the same segments. Then what a crash may have left is cleaned up: temporary
files of an interrupted compression, a plain segment whose `.gz` was already complete, and a torn
last line in the newest segment (bytes after its last newline, i.e. a group whose write never
finished and was therefore never acknowledged), which is truncated with one warning.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from typing import NamedTuple

import structlog

from signals.errors import JournalLocked
from signals.journal.active import ActiveSegment
from signals.journal.position import START, JournalPosition
from signals.journal.segments import content_size, list_segments, remove_leftovers, repair_tail

log = structlog.get_logger(__name__)

LOCK_NAME = "journal.lock"
DIRECTORY_MODE = 0o700


class Recovered(NamedTuple):
    lock: int  # the locked file descriptor: closing it releases the directory
    active: ActiveSegment
    committed: JournalPosition
    uncompressed: list[int]  # closed segments still plain


def recover(directory: Path) -> Recovered:
    """Lock `directory` and find where appending resumes. Blocks: run it in a thread."""
    directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    directory.chmod(DIRECTORY_MODE)  # explicit: mkdir's mode passes through the umask
    lock = _lock(directory)
    try:
        for path in remove_leftovers(directory):
            log.info("journal.leftover_removed", file=str(path))
        closed = list_segments(directory)
        newest = closed.pop() if closed and not closed[-1].compressed else None
        committed = START
        if closed:
            committed = JournalPosition(closed[-1].number, content_size(closed[-1]))
        if newest is None:
            active = ActiveSegment.create(directory, closed[-1].number + 1 if closed else 1)
        else:
            repaired = repair_tail(newest.path)
            if repaired is not None:
                kept, size = repaired
                log.warning(
                    "journal.torn_tail_truncated",
                    file=str(newest.path),
                    offset=kept,
                    dropped_bytes=size - kept,
                )
            active = ActiveSegment.resume(directory, newest.number)
            if active.size:
                committed = JournalPosition(active.number, active.size)
    except BaseException:
        os.close(lock)
        raise
    return Recovered(lock, active, committed, [s.number for s in closed if not s.compressed])


def in_use(directory: Path) -> bool:
    """Whether a running journal holds `directory` (offline tools refuse to run then)."""
    try:
        fd = os.open(directory / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _lock(directory: Path) -> int:
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise JournalLocked(
            errno.EBUSY, f"journal directory {directory} is in use by another process"
        ) from None
    return fd
