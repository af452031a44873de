"""The traffic model: who sends, what type, which text, and the bursts that must fire anomalies.

Pure apart from its random generator, so a seed reproduces the content of a run.
"""

from __future__ import annotations

import math
import random
from collections import deque
from datetime import UTC, datetime
from typing import Any

from signals.labels import SENTIMENTS
from signals.simulate.corpus import AGENTS, CHANNELS, MESSAGES, SIGNAL_TYPES

BURST_SECONDS = 1.5
BURST_GAP_SECONDS = (8.0, 20.0)


class Traffic:
    """Makes events: who sends, what type, which text. Pure apart from its random generator."""

    def __init__(self, rng: random.Random, users: int, run_id: str) -> None:
        self._rng = rng
        self._run_id = run_id
        self._seq = 0
        self.users = [f"{rng.choice(('cust', 'acct', 'dev', 'pt'))}-{n:04d}" for n in range(users)]
        # rank^-0.6: the top user sends ~10% of traffic with 50 users, the median ~1.4%.
        self._user_weights = [(rank + 1) ** -0.6 for rank in range(users)]
        self._temper = {u: rng.uniform(0.3, 2.5) for u in self.users}
        self._agent = {u: rng.choice(AGENTS) for u in self.users}
        self._types = list(SIGNAL_TYPES)
        self._type_weights = [share for share, _ in SIGNAL_TYPES.values()]
        self._recent: deque[dict[str, Any]] = deque(maxlen=200)

    def event(self) -> tuple[dict[str, Any], str]:
        user = self._rng.choices(self.users, self._user_weights)[0]
        signal_type = self._rng.choices(self._types, self._type_weights)[0]
        weights = list(SIGNAL_TYPES[signal_type][1])
        weights[0] *= self._temper[user]
        label = self._rng.choices(SENTIMENTS, weights)[0]
        return self._make(user, signal_type, label), label

    def burst(
        self, threshold: int, critical: bool
    ) -> tuple[list[tuple[dict[str, Any], str]], bool]:
        """More than `threshold` events of one (user, type); at least 1.5 x when `critical`."""
        floor = math.ceil(1.5 * threshold)
        size = (
            self._rng.randint(floor, floor + 5)
            if critical
            else self._rng.randint(threshold + 1, max(threshold + 1, floor - 1))
        )
        user = self._rng.choice(self.users[: max(1, len(self.users) // 2)])
        signal_type = self._rng.choice(("chat", "chat", "escalation", "login", "tool_call"))
        events: list[tuple[dict[str, Any], str]] = []
        for _ in range(size):
            label = self._rng.choices(SENTIMENTS, (0.6, 0.2, 0.05, 0.15))[0]
            events.append((self._make(user, signal_type, label), label))
        return events, size >= floor

    def duplicate(self) -> dict[str, Any] | None:
        """An earlier event sent again as is: a client retry after a lost answer."""
        return self._rng.choice(self._recent) if self._recent else None

    def _make(self, user: str, signal_type: str, label: str) -> dict[str, Any]:
        self._seq += 1
        event: dict[str, Any] = {
            "event_id": f"sim-{self._run_id}-{self._seq:07d}",
            "user_id": user,
            "signal_type": signal_type,
            "timestamp": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "agent_id": self._agent[user],
            "session_id": f"{user}-s{self._rng.randint(1, 4)}",
            "metadata": {
                "source": "signals-simulate",
                "channel": self._rng.choice(CHANNELS),
                "latency_ms": self._rng.randint(80, 2400),
            },
        }
        # Logins usually carry no text; the service then classifies them neutral.
        if signal_type != "login" or label != "neutral" or self._rng.random() < 0.4:
            event["text"] = self._rng.choice(MESSAGES[label])
        self._recent.append(event)
        return event
