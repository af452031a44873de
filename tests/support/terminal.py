"""Run a command on a pseudo-terminal, as a person at a terminal would, and read what it drew.

The child gets the terminal as stdin, stdout and stderr, 160 columns wide, with a plain
`TERM`; variables that force or forbid colour and terminal features are removed, so it decides
from the terminal alone.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

COLUMNS = 160
_FORCING = ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES")
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")


def run_in_terminal(argv: list[str], cwd: Path, timeout: float = 60.0) -> tuple[int, str]:
    """(exit status, everything written to the terminal with escape sequences removed)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, COLUMNS, 0, 0))
    env = {key: value for key, value in os.environ.items() if key not in _FORCING}
    env["TERM"] = "xterm-256color"
    try:
        process = subprocess.Popen(
            argv, stdin=follower, stdout=follower, stderr=follower, cwd=cwd, env=env,
            start_new_session=True,
        )  # fmt: skip
    finally:
        os.close(follower)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{argv} still running after {timeout} s")
            if not select.select([leader], [], [], left)[0]:
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: every holder of the terminal's other side has closed it
                break
            if not chunk:
                break
            chunks.append(chunk)
        status = process.wait(max(0.1, deadline - time.monotonic()))
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
            process.wait()
    text = b"".join(chunks).decode(errors="replace")
    return status, _ESCAPES.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
