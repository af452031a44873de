"""Top users over many rollup slots, reading a bounded number of rows: exact where it says so.

Summing every user's rows over a range reads as many rows as there are (slot, user) pairs, which
grows with the number of users and slots. Instead, for the slots `cover` chose:

1. From each slot, its first `depth + 1` rows by events (an index walk; `RankSource.leaders`).
   The first `depth` are known counts; the next row's count bounds the count of every user not
   listed in that slot (`rest`). A slot with no more rows has rest 0.
2. Each user seen gets a lower bound (the counts known) and an upper bound (plus the rest of
   every slot that does not list it); a user seen nowhere is bounded by the sum of all rests.
3. The users that might still be in the top ten (upper bound at least the tenth-best lower
   bound), at most `MAX_LOOKUPS` of them, best bound first, get their exact sums: their rows
   are looked up (`RankSource.totals`, by primary key) in the slots that did not list them and
   had more rows than were read; elsewhere their counts are known already.
4. The top ten among the users whose sums are exact. The answer is proved exact when no other
   user's upper bound reaches the tenth of them (ties are not counted as proof, since the order
   on a tie is by user_id); otherwise a deeper pass runs, and after the last one the answer is
   returned with `exact` False: each user shown has its exact counts, but a user who is never
   near the top of any slot and yet adds up past the tenth (a flat distribution over many
   slots) may be missing.

Rows read per pass: at most slots x (depth + 1), plus slots x MAX_LOOKUPS lookups (far fewer on
skewed traffic, where the busiest users are listed nearly everywhere), whatever the number of
events or users. Raw parts of a range (`known`) are exact totals added to every bound.
"""

from __future__ import annotations

import heapq
from typing import NamedTuple, Protocol

from signals.store.base import TopUser
from signals.store.cover import Run, SlotStates, cover

TOP_USERS = 10
DEPTHS = (32, 256)
MAX_LOOKUPS = 64
# Past this many slots (only when seals are missing: the sealer is behind, or was not running),
# the per-slot walks would cost more than summing the slots' rows outright, which is exact.
MAX_RANKED_SLOTS = 600

Totals = dict[str, tuple[int, int]]  # user_id -> (events, stressed)
SlotKey = tuple[int, int]  # (level, slot start in seconds)
Leader = tuple[str, int, int]  # user_id, events, stressed


class RankSource(Protocol):
    async def leaders(self, slots: dict[int, list[int]], depth: int) -> dict[SlotKey, list[Leader]]:
        """Each slot's first `depth + 1` rows by (events descending, user_id)."""
        ...

    async def totals(self, pairs: dict[int, list[tuple[int, str]]]) -> Totals:
        """Per user, the sum of its rows at the (slot, user) pairs given for each level."""
        ...


class UserRollups(RankSource, Protocol):
    """What a backend offers to rank users: `cover`'s check, the two reads of `rank`, and two
    plain sums (raw events, and slots read whole)."""

    async def check(self, level: int, runs: list[Run]) -> SlotStates:
        """See `signals.store.cover.SlotCheck`."""
        ...

    async def raw_totals(self, ranges: list[tuple[int, int]]) -> Totals:
        """Sums over the raw events in each [start_us, end_us)."""
        ...

    async def sums(self, slots: dict[int, list[int]]) -> Totals:
        """Every user's sums over `slots`, reading every row."""
        ...


class Ranking(NamedTuple):
    users: list[TopUser]
    exact: bool


async def top_users(rollups: UserRollups, since_us: int, until_us: int) -> Ranking:
    """The top users of [since_us, until_us): the usable slots, ranked; raw ends added exactly."""
    covered = await cover(since_us, until_us, rollups.check)
    known = await rollups.raw_totals(covered.raw) if covered.raw else {}
    if covered.slot_count <= MAX_RANKED_SLOTS:
        return await rank(rollups, covered.slots, known)
    totals = await rollups.sums(covered.slots)
    for user, (e, s) in known.items():
        before = totals.get(user, (0, 0))
        totals[user] = (before[0] + e, before[1] + s)
    return Ranking(top(totals), True)


async def rank(source: RankSource, slots: dict[int, list[int]], known: Totals) -> Ranking:
    """The TOP_USERS users by events over `slots` plus `known`, ties by user_id."""
    ranking = Ranking([], True)
    for depth in DEPTHS:
        ranking = await _pass(source, slots, known, depth)
        if ranking.exact:
            break
    return ranking


def top(totals: Totals) -> list[TopUser]:
    """The TOP_USERS largest by events, ties by user_id."""
    best = heapq.nsmallest(TOP_USERS, totals.items(), key=lambda item: (-item[1][0], item[0]))
    return [TopUser(user_id=user, events=e, stressed=s) for user, (e, s) in best]


async def _pass(
    source: RankSource, slots: dict[int, list[int]], known: Totals, depth: int
) -> Ranking:
    lists = await source.leaders(slots, depth) if slots else {}
    lower: dict[str, list[int]] = {user: [e, s] for user, (e, s) in known.items()}
    listed: dict[str, set[SlotKey]] = {}
    rests: dict[SlotKey, int] = {}  # a slot's bound for the users it does not list
    for key, rows in lists.items():
        rest = rows[depth][1] if len(rows) > depth else 0
        if rest:
            rests[key] = rest
        for user, events, stressed in rows[:depth]:
            tally = lower.setdefault(user, [0, 0])
            tally[0] += events
            tally[1] += stressed
            listed.setdefault(user, set()).add(key)
    unseen = sum(rests.values())  # the bound of a user listed nowhere
    upper = {
        user: tally[0] + unseen - sum(rests.get(key, 0) for key in listed.get(user, ()))
        for user, tally in lower.items()
    }
    exact: Totals = {u: (t[0], t[1]) for u, t in lower.items() if upper[u] == t[0]}
    leading = heapq.nlargest(TOP_USERS, (t[0] for t in lower.values()))
    floor = leading[-1] if len(leading) == TOP_USERS else 0
    hopeful = sorted(
        (u for u in lower if u not in exact and upper[u] >= floor), key=lambda u: (-upper[u], u)
    )
    lookups = hopeful[:MAX_LOOKUPS]
    if lookups:
        # Only where a user's count is unknown: a slot that does not list it and has more rows.
        missing: dict[int, list[tuple[int, str]]] = {}
        for user in lookups:
            seen_in = listed.get(user, set())
            for level, slot in rests.keys() - seen_in:
                missing.setdefault(level, []).append((slot, user))
        sums = await source.totals(missing)
        for user in lookups:
            e, s = sums.get(user, (0, 0))
            exact[user] = (lower[user][0] + e, lower[user][1] + s)
    shown = top(exact)
    threat = max([unseen, *(upper[u] for u in lower if u not in exact)])
    if len(shown) < TOP_USERS:
        return Ranking(shown, threat == 0)
    return Ranking(shown, threat < shown[-1].events)
