"""Concurrent senders against several instances, keeping what each acknowledged, in order.

Each sender has users of its own and waits for each answer before its next request, so the
events it got acknowledged for a user have one order, which the store and the router must keep.
Single events and batches alternate; the instances take turns. A 503 is counted (during a fault
it is the honest answer), anything else that is not a 2xx is kept as an error.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from dataclasses import dataclass, field

import httpx

SENDERS = 4
USERS_PER_SENDER = 5
BATCH_EVERY = 4
BATCH_SIZE = 10


@dataclass
class Load:
    targets: list[str]
    acked: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # user -> ids
    refused: int = 0
    errors: list[str] = field(default_factory=list)
    acked_after: dict[str, int] = field(default_factory=dict)  # mark -> acked count at the mark
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    @property
    def count(self) -> int:
        return sum(len(ids) for ids in self.acked.values())

    def ids(self) -> set[str]:
        return {event for ids in self.acked.values() for event in ids}

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=15) as client:
            await asyncio.gather(*(self._send(client, sender) for sender in range(SENDERS)))

    async def _send(self, client: httpx.AsyncClient, sender: int) -> None:
        users = [f"s{sender}-u{k}" for k in range(USERS_PER_SENDER)]
        for step in itertools.count():
            if self._stop.is_set():
                return
            target = self.targets[(sender + step) % len(self.targets)]
            user = users[step % len(users)]
            if step % BATCH_EVERY == 0:
                body = [{"user_id": user, "signal_type": "chat", "text": "ok"}] * BATCH_SIZE
                await self._post(client, f"{target}/v1/log/batch", body, user, batch=True)
            else:
                body_one = {"user_id": user, "signal_type": "chat", "text": "thanks"}
                await self._post(client, f"{target}/v1/log", body_one, user, batch=False)

    async def _post(
        self, client: httpx.AsyncClient, url: str, body: object, user: str, *, batch: bool
    ) -> None:
        try:
            answer = await client.post(url, json=body)
        except httpx.HTTPError as exc:
            self.errors.append(f"{url}: {type(exc).__name__}")
            await asyncio.sleep(0.1)
            return
        if answer.status_code == 503:
            self.refused += 1
            assert answer.json()["error"]["code"] == "unavailable", answer.text
            await asyncio.sleep(0.05)
            return
        if answer.status_code not in (200, 202):
            self.errors.append(f"{url}: {answer.status_code} {answer.text[:200]}")
            return
        found = answer.json()
        self.acked[user] += found["event_ids"] if batch else [found["event_id"]]
