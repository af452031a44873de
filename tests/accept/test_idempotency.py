"""The idempotency horizon, through what a request can learn of an id: free, being written (wait
for it), answered, or known to the filter (ask the store).

The horizon's bounds are the index's promise, so the tests that pass them use tiny bounds and a
clock the test moves; the tests within the horizon use bounds no test comes near. `learn` is the
one place that reads how the index hands out an answer, so a different layout of the index
changes that helper only.
"""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest

from signals.accept.idempotency import ASK_STORE, Answer, IdempotencyIndex

FREE: Literal["free"] = "free"  # never seen, or past the horizon: the request writes it
STORE: Literal["ask the store"] = "ask the store"  # the filter holds it: the store answers

Learned = Answer | Literal["free", "ask the store"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def index(
    max_ids: int = 1000, horizon_seconds: float = 3600.0, clock: Clock | None = None
) -> IdempotencyIndex:
    return IdempotencyIndex(max_ids, horizon_seconds, clock=clock or Clock())


def answer(event_id: str, sentiment: str = "neutral") -> Answer:
    return Answer(event_id, sentiment, ("cue",), "2025-01-06T10:00:00.000000Z")


async def learn(seen_by: IdempotencyIndex, event_id: str) -> Learned:
    """What a request arriving now with `event_id` is told, waiting for a write in progress."""
    seen = seen_by.lookup(event_id)
    if seen is None:
        return FREE
    if seen is ASK_STORE:
        return STORE
    if isinstance(seen, asyncio.Future):
        async with asyncio.timeout(10):  # a claim nobody settles would hang the request
            return await asyncio.shield(seen)
    return seen


def written(seen: IdempotencyIndex, *event_ids: str) -> None:
    """Journaled, then stored, as the pipeline and the consumer report them."""
    for event_id in event_ids:
        seen.settle([answer(event_id)])
    seen.stored(event_ids)


async def test_a_claimed_id_is_no_longer_free_and_its_settled_answer_is_remembered() -> None:
    seen = index()
    assert await learn(seen, "a") == FREE
    claim = seen.claim("a")
    assert seen.lookup("a") is not None
    seen.settle([answer("a")])
    assert await claim == answer("a")
    assert await learn(seen, "a") == answer("a")
    assert await learn(seen, "b") == FREE


async def test_every_request_waiting_on_a_claim_gets_the_one_answer() -> None:
    seen = index()
    claim = seen.claim("a")
    waiters = [asyncio.create_task(learn(seen, "a")) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(waiter.done() for waiter in waiters)
    seen.settle([answer("a", "positive")])
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
    seen.settle([answer("a", "negative")])
    assert await retry == answer("a", "negative")
    assert await learn(seen, "a") == answer("a", "negative")


async def test_ids_this_server_generated_are_remembered_once_written() -> None:
    seen = index()
    # Never claimed (nobody could have sent it before): settling enters it.
    seen.settle([answer("generated")])
    assert await learn(seen, "generated") == answer("generated")
    # A failed write of a never-claimed id has nothing to release.
    seen.release("generated-too", OSError("disk full"))
    assert await learn(seen, "generated-too") == FREE


async def test_once_stored_an_id_is_left_to_the_store_and_its_answer_leaves_memory() -> None:
    seen = index()
    seen.settle([answer("a")])
    seen.settle([answer("b")])
    assert seen.live == 2
    seen.stored(["a"])
    assert await learn(seen, "a") == STORE
    assert await learn(seen, "b") == answer("b")
    assert seen.live == 1


async def test_a_claim_the_store_already_holds_gets_the_stored_answer() -> None:
    seen = index()
    written(seen, "a")
    claim = seen.claim("a")  # the pipeline claims an id the filter holds, then asks the store
    waiter = asyncio.create_task(learn(seen, "a"))
    await asyncio.sleep(0)
    seen.found(answer("a", "positive"))
    assert await waiter == answer("a", "positive")
    assert await claim == answer("a", "positive")
    assert seen.live == 0
    assert await learn(seen, "a") == STORE


async def test_the_newest_max_ids_are_remembered_and_twice_as_many_later_forgotten() -> None:
    seen = index(max_ids=3)
    written(seen, "a")
    written(seen, "b", "c", "d")
    assert await learn(seen, "a") == STORE  # three newer ids: still within the horizon
    written(seen, "e", "f", "g")
    assert await learn(seen, "a") == FREE  # six newer ids: forgotten
    assert [await learn(seen, event_id) for event_id in "efg"] == [STORE] * 3


async def test_answers_not_yet_stored_are_kept_whatever_the_horizon() -> None:
    # A consumer that lags (the store is down) must not let a retry through: the answer stays
    # until the store has the event. The backlog bound keeps this memory bounded.
    seen = index(max_ids=3)
    seen.claim("in-flight")
    seen.settle([answer("unstored")])
    written(seen, *"abcdefgh")
    assert await learn(seen, "unstored") == answer("unstored")
    assert seen.lookup("in-flight") is not None


async def test_past_the_age_horizon_an_id_is_free_again_and_not_kept_in_memory() -> None:
    clock = Clock()
    seen = index(horizon_seconds=60, clock=clock)
    written(seen, "a", "b")
    clock.now += 59
    assert await learn(seen, "a") == STORE
    clock.now += 2  # a and b are 61 s old
    written(seen, "c")
    assert len(seen) == 1
    assert await learn(seen, "a") == FREE
    assert await learn(seen, "b") == FREE
    assert await learn(seen, "c") == STORE


async def test_an_idle_index_forgets_everything_past_the_age_horizon() -> None:
    clock = Clock()
    seen = index(horizon_seconds=60, clock=clock)
    written(seen, "a")
    clock.now += 61
    assert await learn(seen, "a") == FREE
    assert len(seen) == 0


async def test_warmed_ids_are_left_to_the_store() -> None:
    seen = index()
    seen.warm(["c", "b", "a"])  # newest first, as the store lists them
    assert [await learn(seen, event_id) for event_id in ["a", "b", "c"]] == [STORE] * 3
    assert await learn(seen, "d") == FREE
    assert seen.live == 0


async def test_warming_more_ids_than_the_horizon_keeps_the_newest() -> None:
    seen = index(max_ids=3)
    seen.warm(["e", "d", "c", "b", "a"])
    assert [await learn(seen, event_id) for event_id in ["a", "b"]] == [FREE, FREE]
    assert [await learn(seen, event_id) for event_id in ["c", "d", "e"]] == [STORE] * 3


async def test_warming_in_chunks_keeps_the_newest_up_to_the_horizon() -> None:
    seen = index(max_ids=3)
    seen.warm(["e", "d"])
    seen.warm(["c", "b"])
    seen.warm(["a"])
    assert [await learn(seen, event_id) for event_id in ["a", "b"]] == [FREE, FREE]
    assert [await learn(seen, event_id) for event_id in ["c", "d", "e"]] == [STORE] * 3


async def test_warmed_ids_count_toward_the_horizon_like_the_others() -> None:
    seen = index(max_ids=3)
    seen.warm(["c", "b", "a"])
    written(seen, "new-1", "new-2", "new-3")
    assert await learn(seen, "a") == STORE
    written(seen, "new-4", "new-5", "new-6")
    assert await learn(seen, "a") == FREE


async def test_the_filter_rarely_takes_an_unseen_id_for_a_known_one() -> None:
    # A false "maybe" costs one store query; the filter is sized for well under 1 in 1000.
    seen = index(max_ids=10_000)
    written(seen, *(f"seen-{n}" for n in range(10_000)))
    maybes = sum(seen.lookup(f"unseen-{n}") is ASK_STORE for n in range(20_000))
    assert maybes < 100


async def test_an_id_the_journal_already_held_answers_its_waiter_and_keeps_nothing() -> None:
    # A retry that reached another instance first (JetStream): the copy waiting here gets the
    # first answer, and the index keeps no answer that a `stored` might never remove.
    seen = index()
    first = answer("held", sentiment="stressed")
    claim = seen.claim("held")
    seen.held([first])
    assert await claim == first
    assert await learn(seen, "held") == STORE
    seen.stored(["held"])
    assert await learn(seen, "held") == STORE
