"""`rank`: the top users over many slots from bounded reads, against a plain sum.

The slots live in a dict here (`TableSource` reads them the way the backends' SQL does), so
hypothesis can try many shapes quickly; the stores run the same function on their tables in
test_stats and test_dashboard_counts.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from signals.store.ranking import (
    DEPTHS,
    MAX_LOOKUPS,
    TOP_USERS,
    Leader,
    SlotKey,
    Totals,
    rank,
    top,
)

Slots = dict[SlotKey, dict[str, tuple[int, int]]]


class TableSource:
    """Slots held in memory, read like the rank index and the primary key read them."""

    def __init__(self, table: Slots) -> None:
        self.table = table
        self.rows_read = 0

    async def leaders(self, slots: dict[int, list[int]], depth: int) -> dict[SlotKey, list[Leader]]:
        found: dict[SlotKey, list[Leader]] = {}
        for level, starts in slots.items():
            for slot in starts:
                rows = self.table.get((level, slot), {})
                ordered = sorted(rows.items(), key=lambda item: (-item[1][0], item[0]))
                found[(level, slot)] = [(u, e, s) for u, (e, s) in ordered[: depth + 1]]
                self.rows_read += len(found[(level, slot)])
        return found

    async def totals(self, pairs: dict[int, list[tuple[int, str]]]) -> Totals:
        sums: dict[str, tuple[int, int]] = {}
        for level, level_pairs in pairs.items():
            for slot, user in level_pairs:
                self.rows_read += 1
                e, s = self.table.get((level, slot), {}).get(user, (0, 0))
                before = sums.get(user, (0, 0))
                sums[user] = (before[0] + e, before[1] + s)
        return sums


def plain_sum(table: Slots, known: Totals) -> Totals:
    sums = dict(known)
    for rows in table.values():
        for user, (e, s) in rows.items():
            before = sums.get(user, (0, 0))
            sums[user] = (before[0] + e, before[1] + s)
    return sums


def slot_lists(table: Slots) -> dict[int, list[int]]:
    lists: dict[int, list[int]] = {}
    for level, slot in sorted(table):
        lists.setdefault(level, []).append(slot)
    return lists


def counts(max_users: int) -> st.SearchStrategy[dict[str, tuple[int, int]]]:
    def with_stressed(events: int) -> st.SearchStrategy[tuple[int, int]]:
        return st.integers(0, events).map(lambda stressed: (events, stressed))

    return st.dictionaries(
        st.sampled_from([f"u{n:03d}" for n in range(max_users)]),
        st.integers(1, 60).flatmap(with_stressed),
        max_size=max_users,
    )


tables = st.dictionaries(
    st.tuples(st.sampled_from([60, 3600]), st.integers(0, 40)), counts(300), max_size=25
)
known_parts = counts(20)


@settings(max_examples=150, deadline=None)
@given(tables, known_parts)
async def test_an_exact_ranking_is_the_plain_one(table: Slots, known: Totals) -> None:
    source = TableSource(table)
    ranking = await rank(source, slot_lists(table), known)
    truth = plain_sum(table, known)
    if ranking.exact:
        assert ranking.users == top(truth)
    for user in ranking.users:  # exact counts for everyone shown, proved or not
        assert (user.events, user.stressed) == truth[user.user_id]
    if not ranking.exact:
        assert len(ranking.users) == min(TOP_USERS, len(truth))


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 40), st.integers(200, 400), st.floats(0.6, 1.6))
async def test_skewed_traffic_is_ranked_exactly_from_a_few_rows(
    slot_count: int, users: int, skew: float
) -> None:
    """Busy users stand out in every slot (as in real traffic): the first pass proves it."""
    table: Slots = {
        (60, n): {
            f"u{rank_:03d}": (max(1, int(1000 / rank_**skew)) + n % 3, n % 2)
            for rank_ in range(1, users + 1)
        }
        for n in range(slot_count)
    }
    source = TableSource(table)
    ranking = await rank(source, slot_lists(table), {})
    assert ranking.exact
    assert ranking.users == top(plain_sum(table, {}))
    first_pass = slot_count * (DEPTHS[0] + 1) + slot_count * MAX_LOOKUPS
    assert source.rows_read <= first_pass < slot_count * users  # fewer than all the rows


async def test_a_user_never_near_the_top_of_a_slot_is_flagged_not_hidden() -> None:
    """W is second in no slot's ranking, yet first overall: each slot has more users above W
    than the deepest pass reads. The answer must not claim to be exact."""
    slots, spiky = 30, DEPTHS[-1] + 44
    users = [f"s{n:05d}" for n in range(slots * spiky)]
    table: Slots = {}
    for n in range(slots):
        rows = dict.fromkeys(users, (5, 0))
        rows.update(dict.fromkeys(users[n * spiky : (n + 1) * spiky], (10, 0)))
        rows["w"] = (9, 9)
        table[(60, n)] = rows
    ranking = await rank(TableSource(table), slot_lists(table), {})
    truth = plain_sum(table, {})
    assert top(truth)[0].user_id == "w"
    assert not ranking.exact
    assert all((u.events, u.stressed) == truth[u.user_id] for u in ranking.users)


async def test_raw_parts_alone_are_exact() -> None:
    known = {"a": (3, 1), "b": (5, 0)}
    ranking = await rank(TableSource({}), {}, known)
    assert ranking.exact
    assert [(u.user_id, u.events, u.stressed) for u in ranking.users] == [("b", 5, 0), ("a", 3, 1)]
