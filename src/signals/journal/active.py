"""The segment being appended to, as the writer thread sees it.

Every method blocks and must run on the journal's one writer thread: that single thread is what
keeps the file descriptor, the size and rotation consistent without a lock. A failed write is
undone by truncating the file back to the end of the last good group, so a group is either
entirely in the file or not at all, and the file stays usable once the error passes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from pathlib import Path

from signals.journal.segments import fsync_directory, plain_path

_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC


class ActiveSegment:
    def __init__(self, directory: Path, number: int, fd: int, size: int) -> None:
        self.directory = directory
        self.number = number
        self.size = size
        self.unsynced = False
        self._fd = fd
        self._truncate_to: int | None = None  # set while a failed group's bytes may remain

    @classmethod
    def resume(cls, directory: Path, number: int) -> ActiveSegment:
        fd = os.open(plain_path(directory, number), _FLAGS)
        return cls(directory, number, fd, os.fstat(fd).st_size)

    @classmethod
    def create(cls, directory: Path, number: int) -> ActiveSegment:
        fd = os.open(plain_path(directory, number), _FLAGS | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            fsync_directory(directory)
        except BaseException:
            os.close(fd)
            raise
        return cls(directory, number, fd, 0)

    def write(self, data: bytes, sync: bool) -> tuple[int, int, float]:
        """Append `data`, fsync it if `sync`; return (segment, offset before, seconds taken)."""
        started = time.perf_counter()
        self._undo()
        base = self.size
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                if written == 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                view = view[written:]
            if sync:
                os.fsync(self._fd)
        except OSError:
            # After a failed fsync the kernel may already have dropped the dirty pages, so
            # retrying it proves nothing: the group is failed and its bytes are cut off.
            self._truncate_to = base
            # If even this fails it is tried again before the next group, which fails with it.
            with contextlib.suppress(OSError):
                self._undo()
            raise
        self.size = base + len(data)
        self.unsynced = not sync
        return self.number, base, time.perf_counter() - started

    def sync(self) -> float | None:
        """fsync what was written since the last fsync; the seconds it took, None if nothing."""
        if not self.unsynced:
            return None
        started = time.perf_counter()
        self.unsynced = False
        try:
            os.fsync(self._fd)
        except OSError:
            self.unsynced = True
            raise
        return time.perf_counter() - started

    def rotate(self) -> int:
        """Continue in a new segment; return the number of the one just closed."""
        following = ActiveSegment.create(self.directory, self.number + 1)
        try:
            self.sync()
        except BaseException:
            following.close()
            os.unlink(plain_path(self.directory, following.number))
            raise
        os.close(self._fd)
        closed = self.number
        self.number, self.size, self._fd = following.number, 0, following._fd
        return closed

    def close(self) -> None:
        try:
            self.sync()
        finally:
            os.close(self._fd)

    def _undo(self) -> None:
        """Cut off what a failed group left behind, if anything."""
        if self._truncate_to is None:
            return
        os.ftruncate(self._fd, self._truncate_to)
        os.fsync(self._fd)
        self._truncate_to = None
