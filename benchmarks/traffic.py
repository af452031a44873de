"""Event bodies for the load generators: realistic, varied, never the same twice in a row.

Texts are 20-400 characters built from the `signals simulate` corpus (messages of one
sentiment, so the classifier finds real cues), each with a reference number appended so texts
rarely repeat. Users are spread over `users` ids, so per-user windows see about the traffic a
large fleet makes and bursts stay rare; agents and sessions vary too. No `event_id`: the server
generates one, as it does for most clients.

`Traffic(seed)` is deterministic for a seed; `texts()` also feeds wrk's Lua script, so both
generators send the same kind of event.
"""

from __future__ import annotations

import random

import msgspec

from signals.simulate.corpus import MESSAGES

SIGNAL_TYPES = ("chat", "chat", "chat", "search", "tool_call", "feedback", "login", "escalation")
TEXT_MIN, TEXT_MAX = 20, 400
_encoder = msgspec.json.Encoder()


def build_texts(seed: int = 7, count: int = 400) -> list[str]:
    """`count` texts of 20-400 chars (before the reference suffix, lengths spread evenly over
    that range), mixed sentiments."""
    rng = random.Random(seed)
    pools = list(MESSAGES.values())
    texts: list[str] = []
    while len(texts) < count:
        pool = rng.choice(pools)
        length = rng.randint(TEXT_MIN, TEXT_MAX)
        text = rng.choice(pool)
        while len(text) < length:
            text = f"{text} {rng.choice(pool)}"
        if len(text) > length:
            text = text[:length].rsplit(" ", 1)[0] or text[:length]
        texts.append(text)
    return texts


class Traffic:
    def __init__(self, seed: int = 7, users: int = 100_000) -> None:
        self._rng = random.Random(seed)
        self._texts = build_texts(seed)
        self._users = users
        self._count = 0

    def event(self) -> dict[str, str]:
        rng = self._rng
        self._count += 1
        user = rng.randrange(self._users)
        return {
            "user_id": f"user-{user}",
            "signal_type": rng.choice(SIGNAL_TYPES),
            "text": f"{rng.choice(self._texts)} (ref {rng.randrange(1_000_000)})",
            "agent_id": f"agent-{user % 97}",
            "session_id": f"s-{user}-{self._count}",
        }

    def body(self) -> bytes:
        return _encoder.encode(self.event())

    def batch_body(self, size: int) -> bytes:
        return _encoder.encode([self.event() for _ in range(size)])
