"""When the journal writer holds a small group back for a moment, so more appends share its fsync.

An fsync costs this machine about 70 µs of kernel CPU and the writer's hop to its thread as much
again, whatever the group's size. Under a steady stream of single events between a thousand and
a few thousand a second, groups gather only what arrives during the previous fsync (one or two
appends), so those fixed costs are paid nearly per event: the service then spends close to twice
the CPU per event it spends at its peak, and runs near saturation at half of it. PostgreSQL's
`commit_delay` answers the same problem; like its `commit_siblings`, the wait here happens only
when others are about to commit: when appends have lately been coming faster than one per wait.
A lone client, or a trickle, is never held; neither is a group that is already large (the fsync
before it gathered plenty), nor anything in `fsync = "interval"` mode, where a group costs only
a write.

The arrival rate is a moving average over groups (appends taken / time since the last group was
taken), so an idle spell pulls it down within a few groups, and a burst raises it as quickly.
"""

from __future__ import annotations

# How long a small group waits for company: a millisecond, which an answer hardly notices (about
# 2 ms end to end at these rates), and the time of three or four fsyncs on this machine.
GATHER_SECONDS = 0.001
# Appends waiting when the writer turns to them that make a group worth its fsync already.
ENOUGH = 8
_SMOOTHING = 0.2  # weight of the newest group in the moving average of the arrival rate


class Gathering:
    """The writer asks `hold(waiting)` before it takes the appends waiting as a group, and
    reports each group it took with `taken(count, now)`; `seconds = 0` never holds."""

    __slots__ = ("_last", "_rate", "seconds")

    def __init__(self, seconds: float = GATHER_SECONDS) -> None:
        self.seconds = seconds
        self._rate = 0.0  # appends per second, lately
        self._last: float | None = None  # when the last group was taken (the loop's clock)

    @property
    def rate(self) -> float:
        return self._rate

    def hold(self, waiting: int) -> float:
        """How long to wait before taking `waiting` appends (0: take them now)."""
        if waiting >= ENOUGH or self._rate * self.seconds < 1.0:
            return 0.0
        return self.seconds

    def taken(self, count: int, now: float) -> None:
        last, self._last = self._last, now
        if last is None:
            return
        elapsed = now - last
        sample = count / elapsed if elapsed > 0 else self._rate
        self._rate += _SMOOTHING * (sample - self._rate)
