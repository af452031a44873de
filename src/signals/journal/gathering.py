"""When the journal writer holds a lone append back for a moment, so that more share its fsync.

An fsync costs this machine about 70 µs of kernel CPU and the writer's hop to its thread as much
again, whatever the group's size. Under a steady stream of single events between a thousand and
a few thousand a second, groups gather only what arrives during the previous fsync (one or two
appends), so those fixed costs are paid nearly per event: the service then spends close to twice
the CPU per event it spends at its peak, and runs near saturation at half of it. PostgreSQL's
`commit_delay` answers the same problem; like its `commit_siblings`, the wait here happens only
when others are about to commit, which two moving averages over groups tell:

- the arrival rate (appends taken / time since the last group was taken): faster than one per
  wait, or waiting gains nothing;
- how often appends came while the group before was being written: a client that sends its next
  event only once the last is answered never does, however fast it is, and holding its group
  would only slow it down; independent clients do, in proportion to their rate.

A lone client, or a trickle, is never held; neither is a group of two or more (the write before
it gathered company already), nor anything in `fsync = "interval"` mode, where a group costs only
a write. An idle spell pulls the averages down within a few groups, a burst raises them as fast.
"""

from __future__ import annotations

# How long a lone append waits for company: a millisecond, which an answer hardly notices (about
# 2 ms end to end at these rates), and the time of three or four fsyncs on this machine.
GATHER_SECONDS = 0.001
# Appends waiting when the writer turns to them that make a group worth its fsync already: only
# a lone append waits. Holding two or three too cut 4 clients that each wait for their answer
# from 2,500 to 1,800 events/s (they mostly waited on each other), while a lone append's wait
# gains as much at 2,200 events/s from independent clients (20% less CPU per event either way).
ENOUGH = 2
# The share of groups that found appends waiting when the write before them ended, below which
# the appends are taken to come one after another from a single client. Independent clients at
# 1,000 events/s find some in a fifth of groups on this machine's 0.3 ms fsync, at 2,000 in half.
OVERLAP = 0.15
_SMOOTHING = 0.2  # weight of the newest group in the moving averages


class Gathering:
    """The writer asks `hold(waiting, busy)` before it takes the appends waiting as a group, and
    reports each group it took with `taken(count, now)`; `seconds = 0` never holds."""

    __slots__ = ("_last", "_overlap", "_rate", "seconds")

    def __init__(self, seconds: float = GATHER_SECONDS) -> None:
        self.seconds = seconds
        self._rate = 0.0  # appends per second, lately
        self._overlap = 0.0  # the share of groups whose appends came during the last write
        self._last: float | None = None  # when the last group was taken (the loop's clock)

    @property
    def rate(self) -> float:
        return self._rate

    def hold(self, waiting: int, busy: bool) -> float:
        """How long to wait before taking `waiting` appends (0: take them now); `busy`: they
        came while the last group was being written (the writer found them when it ended)."""
        self._overlap += _SMOOTHING * (float(busy) - self._overlap)
        if waiting >= ENOUGH or self._overlap < OVERLAP or self._rate * self.seconds < 1.0:
            return 0.0
        return self.seconds

    def taken(self, count: int, now: float) -> None:
        last, self._last = self._last, now
        if last is None:
            return
        elapsed = now - last
        sample = count / elapsed if elapsed > 0 else self._rate
        self._rate += _SMOOTHING * (sample - self._rate)
