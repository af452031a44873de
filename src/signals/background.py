"""Threads whose work no request waits on run at the lowest CPU priority.

Compressing a closed journal segment takes a second or more of CPU. zlib releases the GIL, so
the thread does not hold up the event loop's Python, but it does compete with it for the CPU, and
on equal terms: where the service has one core to itself, or shares its cores with other work,
the scheduler hands the compressor slices of several milliseconds while requests wait, and the
tail latency of everything answered meanwhile grows by as much. At nice 19 such a thread gets
what the event loop leaves and a small share (about 1.5%) while the loop is busy, so it still
finishes under sustained load. Linux keeps a nice value per thread; elsewhere the call is
skipped and the thread runs as any other.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

NICENESS = 19


def lower_this_thread() -> None:
    """Run the calling thread at the lowest priority (a `ThreadPoolExecutor` initializer)."""
    if sys.platform != "linux":
        return  # there the number would name a process, not this thread
    # Raising one's own nice value needs no privilege; where it is refused all the same, the
    # thread runs at the priority it has.
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)
