"""Posting events to the service, never raising for anything the network or the service does."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx
import msgspec
from msgspec import Struct

from signals.simulate.summary import Tally


class _LogAnswer(Struct):
    sentiment: str = ""
    duplicate: bool = False


class _BatchAnswer(Struct):
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Any] = []


_encoder = msgspec.json.Encoder()
_log_answer = msgspec.json.Decoder(_LogAnswer)
_batch_answer = msgspec.json.Decoder(_BatchAnswer)


def _error_kind(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "protocol"
    return type(exc).__name__


class Sender:
    """Posts events, never raising for anything the network or the service does."""

    def __init__(self, client: httpx.AsyncClient, tally: Tally, concurrency: int) -> None:
        self._client = client
        self._tally = tally
        self.slots = asyncio.Semaphore(concurrency)

    async def _post(self, path: str, body: Any, events: int) -> httpx.Response | None:
        self._tally.requests += 1
        self._tally.sent += events
        try:
            return await self._client.post(
                path, content=_encoder.encode(body), headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:
            self._tally.fail(_error_kind(exc), events, str(self._client.base_url))
            return None

    async def one(self, event: dict[str, Any], *, delay: float = 0.0) -> None:
        """Send one event after `delay` seconds; the caller holds no slot, this takes one."""
        if delay > 0:
            await asyncio.sleep(delay)
        async with self.slots:
            response = await self._post("/v1/log", event, 1)
        if response is None:
            return
        tally = self._tally
        if response.status_code == 422:
            tally.rejected += 1
        elif response.status_code not in (200, 202):
            tally.fail(f"http_{response.status_code}", 1, str(response.url))
        else:
            try:
                answer = _log_answer.decode(response.content)
            except msgspec.DecodeError:
                tally.fail("bad_response", 1, str(response.url))
                return
            if answer.duplicate:
                tally.duplicates += 1
            else:
                tally.accepted += 1
                tally.sentiments_classified[answer.sentiment or "unknown"] += 1

    async def batch(self, events: Sequence[dict[str, Any]]) -> None:
        async with self.slots:
            response = await self._post("/v1/log/batch", list(events), len(events))
        if response is None:
            return
        tally = self._tally
        if response.status_code == 422:
            tally.rejected += len(events)
        elif response.status_code not in (200, 202):
            tally.fail(f"http_{response.status_code}", len(events), str(response.url))
        else:
            try:
                answer = _batch_answer.decode(response.content)
            except msgspec.DecodeError:
                tally.fail("bad_response", len(events), str(response.url))
                return
            tally.accepted += answer.accepted
            tally.duplicates += answer.duplicates
            tally.rejected += len(answer.rejected)
