"""`signals simulate`: realistic traffic against a running instance, so the dashboard fills up and
anomalies fire.

`simulate(base_url, rate=..., duration=...)` sends events for `duration` seconds at about `rate`
events per second, mostly one per `POST /v1/log`, sometimes several per `POST /v1/log/batch`:

- users are skewed (a few heavy users, a long tail), each with their own agent and temperament;
- signal types are a weighted mix (chat, search, tool_call, feedback, login, escalation), each with
  its own mix of stressed, uncertain, positive and neutral texts from a built-in corpus;
- about every 8-20 s one (user, signal type) bursts: more than `threshold` events (default 10, the
  service's default) in about 1.5 s, well inside the default 5 s window; the first burst and about
  half of the rest reach critical (at least 1.5 x threshold);
- about 1.5% of sends repeat an earlier event (a client retry with the same `event_id`).

Pacing is a token schedule: every event, bursts and batches included, spends 1/rate seconds of
budget, so the average holds while bursts stay fast. At most `concurrency` requests are in flight.
Failures never raise: a refused connection, a timeout or an error status is counted by kind in the
summary. Event ids are `sim-<run>-<n>`, where <run> is random even with a seed, so a rerun never
collides with an earlier run; the seed makes the content (users, texts, bursts) reproducible.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import time
from collections import Counter, deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import structlog
from msgspec import Struct

from signals.errors import UsageError
from signals.labels import SENTIMENTS

logger = structlog.get_logger(__name__)


MESSAGES: dict[str, tuple[str, ...]] = {
    "stressed": (
        "This is the third time the payment failed and my rent is due tomorrow. Fix it now.",
        "The deploy broke production and customers are screaming at us. I need help right away!",
        "I'm so frustrated, I've been on hold for an hour and nobody can find my refund.",
        "My flight got cancelled and I'm stuck at the airport with two kids. This is a nightmare.",
        "Why does the app keep logging me out?? I've reset my password four times today.",
        "I'm really anxious, my appointment was cancelled again and my medication runs out Friday.",
        "There are charges on my card I don't recognise and I can't reach anyone. I'm panicking.",
        "Oh great, another 'unexpected error'. Exactly what I needed an hour before the demo.",
        "Sorry to push, but this is urgent: the client threatens to cancel the contract today.",
        "The build has been red all morning and my manager keeps asking why. I'm losing my mind.",
        "I've explained this five times already. Stop sending me the same useless article!",
        "The hotel has no record of my booking and it's midnight. This is unacceptable!",
        "I am furious. You charged me twice and the support chat just closed on me.",
        "Everything I submitted is gone after the update. Weeks of work, gone. Unbelievable.",
        "I'm terrified I missed the deadline for my claim, the portal has been down all day.",
    ),
    "uncertain": (
        "I'm not sure which plan I should pick, is the basic one enough for a team of five?",
        "Hmm, I don't get it. Do I run the migration before or after the upgrade?",
        "Not sure what 'pending authorisation' means on my statement.",
        "Maybe I should rebook the later flight? I can't tell if the connection is too tight.",
        "Sorry if this is a silly question, but what's the difference between merge and rebase?",
        "I think I need a referral for the specialist but I'm not certain. Do I?",
        "Which of these two error messages is the real problem? I can't figure it out.",
        "I'm confused about the fees, does the transfer cost something or not?",
        "Should I restart the router first or call the provider? Not really sure what to try.",
        "I might have entered the wrong date of birth, I'm not sure how to check.",
        "Wait, does this cancel the whole order or only the one item? I'm unsure.",
        "I'm a bit lost with the setup guide, step 4 says to add a key but where exactly?",
        "Is the test flaky, or did I break something? I honestly don't know.",
        "I'm unsure whether my insurance covers this visit. How would I find out?",
        "Perhaps I'm reading it wrong, but the invoice total doesn't seem to match?",
    ),
    "positive": (
        "Thank you so much, the refund came through this morning!",
        "That fixed it, the tests are green again. Great suggestion!",
        "Perfect, the new seat is booked and even has extra legroom. Thanks!",
        "Wow, the appointment reminder is really handy, much appreciated.",
        "Brilliant, the card is unblocked and it works at the shop again.",
        "Thanks, that's a relief. I was worried the transfer was lost.",
        "Love the new dashboard, it's so much easier to find my invoices.",
        "Not bad at all, the refactor you proposed is cleaner than mine.",
        "Excellent service today, the agent sorted out my visa letter in minutes.",
        "Great news, the printer is back online. Thank you!",
        "This is exactly what I needed, the query runs in under a second now. Awesome.",
        "Awesome, my prescription renewal went through without a hitch.",
        "Thanks for the quick answer! Also, please set my status to away.",
        "Really happy with how easy the upgrade was, well done.",
        "Cheers, the hotel confirmed the late checkout. You saved my day, thanks!",
    ),
    "neutral": (
        "What's the routing number for the downtown branch?",
        "Show me flights from Lisbon to Berlin next Friday morning.",
        "Reset the staging database and rerun the seed script.",
        "Book a follow-up appointment with Dr. Patel for next Tuesday.",
        "How many vacation days do I have left this year?",
        "Update my shipping address to 14 Market Street.",
        "List the open tickets assigned to the networking team.",
        "Kill all the zombie processes on the build server.",
        "Convert 250 euros to US dollars.",
        "What are the visiting hours at the clinic on weekends?",
        "Export last month's transactions as a CSV file.",
        "Run the stress test against the payments service at 200 requests per second.",
        "Set my timezone to UTC.",
        "Add a unit test for the date parser.",
        "When does the pharmacy close today?",
    ),
}

# signal type -> (share of traffic, sentiment weights in SENTIMENTS order)
SIGNAL_TYPES: dict[str, tuple[float, tuple[float, float, float, float]]] = {
    "chat": (0.42, (0.22, 0.22, 0.20, 0.36)),
    "search": (0.16, (0.05, 0.25, 0.05, 0.65)),
    "tool_call": (0.16, (0.08, 0.12, 0.05, 0.75)),
    "feedback": (0.10, (0.30, 0.05, 0.50, 0.15)),
    "login": (0.09, (0.05, 0.05, 0.05, 0.85)),
    "escalation": (0.07, (0.75, 0.15, 0.00, 0.10)),
}
AGENTS = ("support-bot", "coding-assistant", "travel-assistant", "bank-assistant", "care-scheduler")
CHANNELS = ("web", "mobile", "api")

BURST_SECONDS = 1.5
BURST_GAP_SECONDS = (8.0, 20.0)
BATCH_SHARE = 0.06
DUPLICATE_SHARE = 0.015
CATCH_UP_SECONDS = 1.0  # a stalled loop may make up at most this much lost budget at once


class SimulationSummary(Struct, frozen=True, kw_only=True):
    """What a run did. Event counts satisfy sent == accepted + duplicates + rejected + failed."""

    url: str
    target_rate: float
    elapsed_seconds: float
    achieved_rate: float  # events sent per second of elapsed time
    requests: int
    sent: int
    accepted: int
    duplicates: int
    rejected: int  # refused by validation (422, or items of a batch)
    failed: int  # events whose request failed (transport error or another status)
    errors: dict[str, int]  # failed requests by kind: "connect", "timeout", "http_503", ...
    bursts: int
    critical_bursts: int
    users: int  # distinct users that sent at least one event
    sentiments_sent: dict[str, int]  # the corpus label of each new event's text
    sentiments_classified: dict[str, int]  # what the service answered for single events
    signal_types: dict[str, int]


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


class _Traffic:
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


class _Tally:
    """Counters the request tasks update; all on one event loop, so no locking."""

    def __init__(self) -> None:
        self.requests = 0
        self.sent = 0
        self.accepted = 0
        self.duplicates = 0
        self.rejected = 0
        self.failed = 0
        self.errors: Counter[str] = Counter()
        self.bursts = 0
        self.critical_bursts = 0
        self.users: set[str] = set()
        self.sentiments_sent: Counter[str] = Counter()
        self.sentiments_classified: Counter[str] = Counter()
        self.signal_types: Counter[str] = Counter()

    def count_new(self, event: dict[str, Any], label: str) -> None:
        self.users.add(event["user_id"])
        self.sentiments_sent[label] += 1
        self.signal_types[event["signal_type"]] += 1

    def fail(self, kind: str, events: int, url: str) -> None:
        if kind not in self.errors:
            logger.warning("simulate_request_failed", kind=kind, url=url)
        self.errors[kind] += 1
        self.failed += events


def _error_kind(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "protocol"
    return type(exc).__name__


class _Sender:
    """Posts events, never raising for anything the network or the service does."""

    def __init__(self, client: httpx.AsyncClient, tally: _Tally, concurrency: int) -> None:
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


async def simulate(
    base_url: str,
    *,
    rate: float,
    duration: float,
    users: int = 50,
    api_key: str | None = None,
    seed: int | None = None,
    threshold: int = 10,
    concurrency: int = 32,
) -> SimulationSummary:
    """Send about `rate` events per second for `duration` seconds to `base_url`.

    `threshold` is the service's `thresholds.default`, which the bursts must exceed. Raises
    ValueError for a bad argument; never raises for a network or HTTP failure.
    """
    if not rate > 0 or not math.isfinite(rate):
        raise UsageError(f"rate must be a positive number of events per second, not {rate}")
    if not duration > 0 or not math.isfinite(duration):
        raise UsageError(f"duration must be a positive number of seconds, not {duration}")
    if users < 1:
        raise UsageError(f"users must be at least 1, not {users}")
    if threshold < 1 or concurrency < 1:
        raise UsageError("threshold and concurrency must be at least 1")
    rng = random.Random(seed)
    traffic = _Traffic(rng, users, os.urandom(4).hex())
    tally = _Tally()
    headers = {"X-API-Key": api_key} if api_key else {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timeout = httpx.Timeout(10.0, connect=3.0)
    started = time.monotonic()
    async with (
        httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=headers, limits=limits, timeout=timeout
        ) as client,
        asyncio.TaskGroup() as tasks,
    ):
        sender = _Sender(client, tally, concurrency)
        schedule = _Schedule(
            traffic, tally, sender, rng, rate=rate, duration=duration, threshold=threshold
        )
        await schedule.run(tasks)
    elapsed = time.monotonic() - started
    return SimulationSummary(
        url=base_url,
        target_rate=rate,
        elapsed_seconds=round(elapsed, 3),
        achieved_rate=round(tally.sent / elapsed, 2) if elapsed > 0 else 0.0,
        requests=tally.requests,
        sent=tally.sent,
        accepted=tally.accepted,
        duplicates=tally.duplicates,
        rejected=tally.rejected,
        failed=tally.failed,
        errors=dict(tally.errors),
        bursts=tally.bursts,
        critical_bursts=tally.critical_bursts,
        users=len(tally.users),
        sentiments_sent={s: tally.sentiments_sent[s] for s in SENTIMENTS},
        sentiments_classified=dict(tally.sentiments_classified),
        signal_types=dict(tally.signal_types.most_common()),
    )


class _Schedule:
    """The token schedule: starts requests until `duration` is spent; the task group awaits them."""

    def __init__(
        self,
        traffic: _Traffic,
        tally: _Tally,
        sender: _Sender,
        rng: random.Random,
        *,
        rate: float,
        duration: float,
        threshold: int,
    ) -> None:
        self._traffic = traffic
        self._tally = tally
        self._sender = sender
        self._rng = rng
        self._rate = rate
        self._duration = duration
        self._threshold = threshold
        self._max_batch = max(2, min(25, int(rate)))

    async def run(self, tasks: asyncio.TaskGroup) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        deadline = start + self._duration
        next_at = start
        next_burst = start + min(2.0, self._duration * 0.2)
        while (now := loop.time()) < deadline:
            if next_at > now:
                await asyncio.sleep(min(next_at, deadline) - now)
                continue
            next_at = max(next_at, now - CATCH_UP_SECONDS)
            if now >= next_burst and deadline - now > BURST_SECONDS + 0.5:
                spent = self._burst(tasks)
                next_burst = now + self._rng.uniform(*BURST_GAP_SECONDS)
            else:
                spent = self._step(tasks)
            next_at += spent / self._rate
            # Backpressure: a slow service holds every slot, and the schedule waits here.
            async with self._sender.slots:
                pass

    def _burst(self, tasks: asyncio.TaskGroup) -> int:
        tally = self._tally
        critical = tally.bursts == 0 or self._rng.random() < 0.5
        events, critical = self._traffic.burst(self._threshold, critical)
        tally.bursts += 1
        tally.critical_bursts += critical
        spacing = BURST_SECONDS / len(events)
        for index, (event, label) in enumerate(events):
            tally.count_new(event, label)
            tasks.create_task(self._sender.one(event, delay=index * spacing))
        return len(events)

    def _step(self, tasks: asyncio.TaskGroup) -> int:
        roll = self._rng.random()
        if roll < BATCH_SHARE:
            batch = [self._traffic.event() for _ in range(self._rng.randint(2, self._max_batch))]
            for event, label in batch:
                self._tally.count_new(event, label)
            tasks.create_task(self._sender.batch([event for event, _ in batch]))
            return len(batch)
        repeat = self._traffic.duplicate() if roll < BATCH_SHARE + DUPLICATE_SHARE else None
        if repeat is None:
            event, label = self._traffic.event()
            self._tally.count_new(event, label)
            repeat = event
        tasks.create_task(self._sender.one(repeat))
        return 1


def format_summary(summary: SimulationSummary) -> str:
    """A few aligned lines for a terminal."""

    def mix(counts: dict[str, int]) -> str:
        total = sum(counts.values())
        if not total:
            return "none"
        return " · ".join(f"{k} {v} ({v / total:.0%})" for k, v in counts.items() if v)

    errors = ", ".join(f"{k} {v}" for k, v in sorted(summary.errors.items())) or "none"
    lines = [
        f"simulated traffic to {summary.url} for {summary.elapsed_seconds:.1f} s",
        f"  sent        {summary.sent} events in {summary.requests} requests "
        f"({summary.achieved_rate:.1f}/s, target {summary.target_rate:g}/s), "
        f"{summary.users} users",
        f"  outcome     accepted {summary.accepted} · duplicates {summary.duplicates} · "
        f"rejected {summary.rejected} · failed {summary.failed}",
        f"  errors      {errors}",
        f"  bursts      {summary.bursts} ({summary.critical_bursts} critical)",
        f"  sentiment   sent: {mix(summary.sentiments_sent)}",
        f"              classified: {mix(summary.sentiments_classified)}",
        f"  types       {mix(summary.signal_types)}",
    ]
    if summary.sent and summary.failed == summary.sent:
        lines.append(f"  nothing reached {summary.url}: is `signals serve` running there?")
    return "\n".join(lines)
