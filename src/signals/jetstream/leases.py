"""Partition leases: at most one instance reads a partition of a consumer group at a time.

JetStream keeps one durable consumer per partition, which any instance may pull from; were two
pulling at once, one user's events could be handled out of order. A lease in the KV bucket
`<stream>_leases` (`<group>.lease.<p>` = the holder's instance id) says who reads:

- taken with a create that succeeds only when the key holds nothing (compare-and-set),
- renewed every third of the bucket's TTL by an update that names the revision it last wrote
  (someone else's write makes it fail: the lease is lost),
- gone when not renewed within the TTL (the bucket's max age): a dead instance's partitions
  are free again after at most `journal.lease_seconds`, and another instance takes them.

Instances also announce themselves (`<group>.member.<instance>`, renewed the same way), and each
takes at most its fair share, ceil(partitions / members), so the work spreads; one that holds
more than its share hands the surplus back once its readers finish their batch.

A lease is trusted locally only until `TRUST` of the TTL has passed since the renewal that was
last confirmed, so an instance cut off from the servers stops reading before its leases can
expire and be taken by another.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import zlib

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

TRUST = 0.75


class Leases:
    def __init__(
        self,
        js: JetStreamContext,
        kv: KeyValue,
        *,
        bucket: str,
        group: str,
        partitions: int,
        instance: str,
        ttl_seconds: float,
    ) -> None:
        self._js = js
        self._kv = kv
        self._stream = f"KV_{bucket}"
        self._bucket = bucket
        self._group = group
        self._partitions = partitions
        self._instance = instance.encode()
        self.ttl = ttl_seconds
        self.held: dict[int, int] = {}  # partition -> revision of our last write
        self._confirmed = 0.0  # monotonic time the last successful renewal round began
        # Instances try partitions starting at different places, so their first grabs rarely
        # collide.
        self._first = zlib.crc32(self._instance) % partitions
        # Renewals run in the lease loop while readers release their partitions: one at a time,
        # or a release between an update and its bookkeeping would leave a lease nobody reads.
        self._lock = asyncio.Lock()

    @property
    def renew_seconds(self) -> float:
        return self.ttl / 3

    def trusted(self) -> bool:
        return time.monotonic() - self._confirmed < self.ttl * TRUST

    def _lease(self, partition: int) -> str:
        return f"{self._group}.lease.{partition}"

    def _member(self) -> str:
        return f"{self._group}.member.{self._instance.decode()}"

    async def renew(self) -> list[int]:
        """Renew every held lease and our membership; returns the partitions lost."""
        began = time.monotonic()
        lost = []
        async with self._lock:
            for partition, revision in list(self.held.items()):
                try:
                    self.held[partition] = await self._kv.update(
                        self._lease(partition), self._instance, last=revision
                    )
                except nats.js.errors.KeyWrongLastSequenceError:
                    lost.append(partition)
                    del self.held[partition]
            await self._kv.put(self._member(), self._instance)
        self._confirmed = began
        return lost

    def forget(self) -> list[int]:
        """Drop every lease without a word to the servers (they can no longer be trusted)."""
        lost = sorted(self.held)
        self.held.clear()
        return lost

    async def members(self) -> int:
        info = await self._js.stream_info(
            self._stream, subjects_filter=f"$KV.{self._bucket}.{self._group}.member.>"
        )
        count = 0
        for found in info.state.subjects or {}:
            try:
                await self._kv.get(found.removeprefix(f"$KV.{self._bucket}."))
            except nats.js.errors.NotFoundError:  # deleted, or expired meanwhile
                continue
            count += 1
        return max(1, count)

    async def share(self) -> int:
        return math.ceil(self._partitions / await self.members())

    async def take(self, share: int) -> list[int]:
        """Take free partitions until we hold `share`; returns those taken."""
        taken = []
        async with self._lock:
            for step in range(self._partitions):
                if len(self.held) >= share:
                    break
                partition = (self._first + step) % self._partitions
                if partition in self.held:
                    continue
                revision = await self._claim(self._lease(partition))
                if revision is not None:
                    self.held[partition] = revision
                    taken.append(partition)
        return taken

    async def _claim(self, key: str) -> int | None:
        try:
            return await self._kv.create(key, self._instance)
        except nats.js.errors.KeyWrongLastSequenceError:
            pass
        # Held: by another instance, or by this one before a restart on the same data_dir
        # (its lease need not run out first).
        try:
            entry = await self._kv.get(key)
            if entry.value == self._instance and entry.revision is not None:
                return await self._kv.update(key, self._instance, last=entry.revision)
        except (nats.js.errors.NotFoundError, nats.js.errors.KeyWrongLastSequenceError):
            pass
        return None

    def surplus(self, share: int) -> list[int]:
        return sorted(self.held)[share:]

    async def release(self, partition: int) -> None:
        async with self._lock:
            revision = self.held.pop(partition, None)
            if revision is not None:
                # Taken by another after it expired: nothing of ours is left to free.
                with contextlib.suppress(nats.js.errors.KeyWrongLastSequenceError):
                    await self._kv.delete(self._lease(partition), last=revision)

    async def leave(self) -> None:
        for partition in list(self.held):
            await self.release(partition)
        await self._kv.delete(self._member())
