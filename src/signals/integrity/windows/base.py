"""The windows interface that every backend implements and one contract suite tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple, Protocol

WindowsStatus = Literal["ok", "degraded"]


class WindowEvent(NamedTuple):
    user_id: str
    signal_type: str
    event_id: str  # the sorted-set member: a replayed event is not counted twice
    at: float  # received_at, epoch seconds


class Windows(Protocol):
    async def add(self, events: Sequence[WindowEvent]) -> list[int]:
        """Add each event in order; return, per event, its key's count in (at - window, at]."""
        ...

    @property
    def status(self) -> WindowsStatus: ...

    async def aclose(self) -> None: ...
