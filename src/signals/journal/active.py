"""The segment being appended to, as the writer thread sees it.

Every method blocks and must run on the journal's one writer thread: that single thread is what
keeps the file descriptor, the size and rotation consistent without a lock.

Faults. The file holds `size` bytes of acknowledged groups, of which the first `synced` are
known durable. Two things can be wrong with it, and `repair` (run before every write, fsync and
probe) puts both right or raises:

- a failed write may have left part of its group past `size`: the file is cut back to `size`,
  so a group is either entirely in the file or not at all;
- an fsync failed. On Linux a failed writeback marks the pages clean and reports the error once,
  so a later fsync that succeeds proves nothing about them (PostgreSQL's rule: never retry a
  failed fsync and then trust it). The bytes after `synced` are therefore written again from the
  copy kept in memory (`interval` mode keeps the groups written since the last fsync; in `always`
  mode nothing acknowledged is ever unsynced) through a fresh descriptor, and only an fsync after
  that rewrite counts.

`fsync` is the one way this class makes a file durable; tests put a failing one there to play a
disk whose writeback fails, which no filesystem offers on demand.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Callable
from pathlib import Path

from signals.journal.segments import fsync_directory, plain_path

_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
# Segments hold users' texts: readable by the service's own user only, whatever the umask.
FILE_MODE = 0o600
PROBE_NAME = ".probe"
PROBE_BYTES = 4096

Fsync = Callable[[int], None]


class ActiveSegment:
    def __init__(
        self, directory: Path, number: int, fd: int, size: int, fsync: Fsync = os.fsync
    ) -> None:
        self.directory = directory
        self.number = number
        self.size = size
        self.synced = size
        self.fsync = fsync
        self._fd = fd
        self._unsynced: list[bytes] = []  # the groups after `synced`, as written
        self._torn = False  # a failed write may have left bytes past `size`
        self._suspect = False  # an fsync failed: the bytes after `synced` must be written again

    @classmethod
    def resume(cls, directory: Path, number: int, fsync: Fsync = os.fsync) -> ActiveSegment:
        fd = os.open(plain_path(directory, number), _FLAGS)
        os.fchmod(fd, FILE_MODE)  # a segment an older version created with the umask's mode
        return cls(directory, number, fd, os.fstat(fd).st_size, fsync)

    @classmethod
    def create(cls, directory: Path, number: int, fsync: Fsync = os.fsync) -> ActiveSegment:
        fd = os.open(plain_path(directory, number), _FLAGS | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)
            fsync_directory(directory)
        except BaseException:
            os.close(fd)
            raise
        return cls(directory, number, fd, 0, fsync)

    @property
    def unsynced(self) -> bool:
        return self.synced < self.size or self._torn or self._suspect

    def write(self, data: bytes, sync: bool) -> tuple[int, int, float]:
        """Append `data`, fsync it if `sync`; return (segment, offset before, seconds taken)."""
        started = time.perf_counter()
        self.repair()
        base = self.size
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                if written == 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                view = view[written:]
            self.size = base + len(data)
            if sync:
                self._sync(failed_size=base)
        except OSError:
            self._torn = True
            # Cut the group off at once, so no reader or crash sees it; if that fails too, the
            # repair before the next write tries again (and that write fails with it).
            with contextlib.suppress(OSError):
                self.repair()
            raise
        if not sync:
            self._unsynced.append(data)
        return self.number, base, time.perf_counter() - started

    def sync(self) -> float | None:
        """Make every acknowledged byte durable; the seconds it took, None if nothing to do."""
        if not self.unsynced:
            return None
        started = time.perf_counter()
        if self._torn or self._suspect:
            self.repair()
        else:
            self._sync(failed_size=self.size)
        return time.perf_counter() - started

    def repair(self) -> None:
        """Cut off a failed group and rewrite what a failed fsync may have lost, then fsync."""
        if not (self._torn or self._suspect):
            return
        if self._torn:
            os.ftruncate(self._fd, self.size)
            self._torn = False
        if self._suspect:
            self._rewrite()
        self._sync(failed_size=self.size)

    def probe(self) -> None:
        """Repair, then write and fsync a block beside the segments: raises while the disk
        cannot take a write. Used to learn that a failed journal may accept appends again."""
        self.repair()
        path = self.directory / PROBE_NAME
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
        try:
            if os.write(fd, b"\0" * PROBE_BYTES) != PROBE_BYTES:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.fsync(fd)
        finally:
            os.close(fd)
            path.unlink(missing_ok=True)

    def rotate(self) -> int:
        """Continue in a new segment; return the number of the one just closed."""
        self.sync()  # first: a segment is only ever left whole and durable
        following = ActiveSegment.create(self.directory, self.number + 1, self.fsync)
        os.close(self._fd)
        closed = self.number
        self.number, self.size, self.synced, self._fd = following.number, 0, 0, following._fd
        return closed

    def close(self) -> None:
        try:
            self.sync()
        finally:
            os.close(self._fd)

    def _sync(self, *, failed_size: int) -> None:
        """fsync; on failure the bytes from `synced` on are suspect, and those from
        `failed_size` on (a group nobody was told about) are cut off at the next repair."""
        try:
            self.fsync(self._fd)
        except OSError:
            self._suspect = self.synced < failed_size
            if failed_size < self.size:
                self.size = failed_size
                self._torn = True
            raise
        self.synced = self.size
        self._unsynced.clear()
        self._suspect = False

    def _rewrite(self) -> None:
        """Write the bytes after `synced` again, in place, from the copy kept in memory.

        Through a descriptor without O_APPEND (pwrite on an O_APPEND one appends on Linux). The
        same bytes go to the same offsets, so a reader never sees them change.
        """
        data = b"".join(self._unsynced)
        assert len(data) == self.size - self.synced, "the unsynced copy must match the file"
        fd = os.open(plain_path(self.directory, self.number), os.O_WRONLY | os.O_CLOEXEC)
        try:
            view = memoryview(data)
            offset = self.synced
            while view:
                written = os.pwrite(fd, view, offset)
                if written == 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                view, offset = view[written:], offset + written
        finally:
            os.close(fd)
