"""The SQLite file holds users' texts: readable and writable by the service's user only.

SQLite creates `-wal` and `-shm` with the database file's own mode, so creating the file 0600
before SQLite opens it (and setting 0600 on files an older version left with the umask's mode)
covers all three, whatever the process umask is.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

FILE_MODE = 0o600


def owner_only(path: Path) -> None:
    """Create `path` if missing and make it and its `-wal`/`-shm` companions mode 0600."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE))
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(name, FILE_MODE)
