"""Compressing a closed segment to `.jsonl.gz` without ever exposing a half-written file.

The gzip file is written under a temporary name, fsynced, given the segment's modification time
(retention ages a segment by it) and renamed into place; only then is the plain file removed. A
crash at any point leaves either the plain segment alone, or a whole `.gz` beside a plain file that
`segments.remove_leftovers` deletes on the next open.
"""

from __future__ import annotations

import gzip
import os
import threading
from pathlib import Path

from signals.journal.active import FILE_MODE
from signals.journal.segments import CHUNK_BYTES, TEMP_SUFFIX, fsync_directory

# zlib releases the GIL while it deflates, so compressing in a thread leaves the event loop free;
# level 1: segments are JSON, which compresses well even at the fastest level, and compression
# competes with ingest for the CPU (level 6 cost ~8% of batch ingest time in the benchmark).
COMPRESS_LEVEL = 1


def compress_segment(plain: Path, abort: threading.Event) -> Path | None:
    """Replace `plain` by `plain.gz`; None if `abort` was set first or `plain` is gone (pruned)."""
    target = plain.with_name(plain.name + ".gz")
    temp = target.with_name(target.name + TEMP_SUFFIX)
    try:
        source = plain.open("rb")
    except FileNotFoundError:
        return None
    aborted = False
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
        os.fchmod(fd, FILE_MODE)  # users' texts: the owner's only, whatever the umask
        with source, open(fd, "wb") as raw:
            stat = os.fstat(source.fileno())
            with gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, compresslevel=COMPRESS_LEVEL, mtime=0
            ) as packed:
                while chunk := source.read(CHUNK_BYTES):
                    if abort.is_set():
                        aborted = True
                        break
                    packed.write(chunk)
            if not aborted:
                raw.flush()
                os.fsync(raw.fileno())
        if not aborted:
            os.utime(temp, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            os.replace(temp, target)
            fsync_directory(plain.parent)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if aborted:
        temp.unlink(missing_ok=True)
        return None
    plain.unlink()
    return target
