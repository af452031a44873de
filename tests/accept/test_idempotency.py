"""The idempotency horizon, through what a request can learn of an id: free, being written (wait
for it), answered, or warmed from the store (ask the store).

The horizon's bounds are the index's promise, so the tests that pass them use tiny bounds; the
tests within the horizon use bounds no test comes near. `learn` is the one place that reads how
the index hands out an answer, so a different layout of the index changes that helper only.
"""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest

from signals.accept.idempotency import Answer, IdempotencyIndex

FREE: Literal["free"] = "free"  # never seen, or past the horizon: the request writes it
ASK_STORE: Literal["ask the store"] = "ask the store"  # warmed at start, answer not in memory

Learned = Answer | Literal["free", "ask the store"]


def index(max_ids: int = 1000, horizon_seconds: float = 3600.0) -> IdempotencyIndex:
    return IdempotencyIndex(max_ids, horizon_seconds)


def answer(event_id: str, sentiment: str = "neutral") -> Answer:
    return Answer(event_id, sentiment, ("cue",), "2025-01-06T10:00:00.000000Z")


async def learn(seen_by: IdempotencyIndex, event_id: str) -> Learned:
    """What a request arriving now with `event_id` is told, waiting for a write in progress."""
    seen = seen_by.lookup(event_id)
    if seen is None:
        return FREE
    if seen.answer is None:
        return ASK_STORE
    if isinstance(seen.answer, asyncio.Future):
        async with asyncio.timeout(10):  # a claim nobody settles would hang the request
            return await asyncio.shield(seen.answer)
    return seen.answer


async def test_a_claimed_id_is_no_longer_free_and_its_settled_answer_is_remembered() -> None:
    seen = index()
    assert await learn(seen, "a") == FREE
    claim = seen.claim("a")
    assert seen.lookup("a") is not None
    seen.settle(answer("a"))
    assert await claim == answer("a")
    assert await learn(seen, "a") == answer("a")
    assert await learn(seen, "b") == FREE


async def test_every_request_waiting_on_a_claim_gets_the_one_answer() -> None:
    seen = index()
    claim = seen.claim("a")
    waiters = [asyncio.create_task(learn(seen, "a")) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(waiter.done() for waiter in waiters)
    seen.settle(answer("a", "positive"))
    assert await asyncio.gather(*waiters) == [answer("a", "positive")] * 3
    assert await claim == answer("a", "positive")


async def test_a_released_claim_fails_its_waiters_and_frees_the_id_for_a_retry() -> None:
    seen = index()
    seen.claim("a")
    waiter = asyncio.create_task(learn(seen, "a"))
    await asyncio.sleep(0)
    failure = OSError("disk full")
    seen.release("a", failure)
    with pytest.raises(OSError, match="disk full"):
        await waiter
    assert await learn(seen, "a") == FREE
    retry = seen.claim("a")
    seen.settle(answer("a", "negative"))
    assert await retry == answer("a", "negative")
    assert await learn(seen, "a") == answer("a", "negative")


async def test_ids_this_server_generated_are_remembered_once_written() -> None:
    seen = index()
    # Never claimed (nobody could have sent it before): settling enters it.
    seen.settle(answer("generated"))
    assert await learn(seen, "generated") == answer("generated")
    # A failed write of a never-claimed id has nothing to release.
    seen.release("generated-too", OSError("disk full"))
    assert await learn(seen, "generated-too") == FREE


async def test_past_the_count_horizon_the_oldest_ids_are_free_again() -> None:
    seen = index(max_ids=3)
    for event_id in ["a", "b", "c", "d"]:
        seen.settle(answer(event_id))
    assert await learn(seen, "a") == FREE
    assert [await learn(seen, event_id) for event_id in ["b", "c", "d"]] == [
        answer("b"),
        answer("c"),
        answer("d"),
    ]
    assert len(seen) == 3


async def test_claims_count_toward_the_horizon_too() -> None:
    seen = index(max_ids=2)
    seen.settle(answer("a"))
    seen.claim("b")
    seen.claim("c")
    assert await learn(seen, "a") == FREE
    assert len(seen) == 2


async def test_past_the_age_horizon_an_id_is_free_again_and_not_kept_in_memory() -> None:
    seen = index(horizon_seconds=0.001)
    seen.settle(answer("a"))
    seen.settle(answer("b"))
    await asyncio.sleep(0.02)  # well past the horizon: the forgetting is what is asserted
    seen.settle(answer("c"))
    # Aged-out ids go even if nobody asks for them again: memory holds the horizon only.
    assert len(seen) == 1
    assert await learn(seen, "a") == FREE
    assert await learn(seen, "b") == FREE
    assert await learn(seen, "c") == answer("c")


async def test_warmed_ids_are_seen_and_their_answer_is_left_to_the_store() -> None:
    seen = index()
    seen.warm(["c", "b", "a"])  # newest first, as the store lists them
    assert [await learn(seen, event_id) for event_id in ["a", "b", "c"]] == [ASK_STORE] * 3
    assert await learn(seen, "d") == FREE
    # Once the store answered, the answer is remembered.
    seen.settle(answer("b"))
    assert await learn(seen, "b") == answer("b")


async def test_warming_more_ids_than_the_horizon_keeps_the_newest() -> None:
    seen = index(max_ids=3)
    seen.warm(["e", "d", "c", "b", "a"])
    assert [await learn(seen, event_id) for event_id in ["a", "b"]] == [FREE, FREE]
    assert [await learn(seen, event_id) for event_id in ["c", "d", "e"]] == [ASK_STORE] * 3


async def test_warmed_ids_age_out_oldest_first() -> None:
    seen = index(max_ids=3)
    seen.warm(["c", "b", "a"])
    seen.settle(answer("new"))
    assert await learn(seen, "a") == FREE
    assert [await learn(seen, event_id) for event_id in ["b", "c"]] == [ASK_STORE] * 2
    assert await learn(seen, "new") == answer("new")
