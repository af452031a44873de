"""Retention's deletions, shared by both backends: what goes, oldest first, in small steps.

Each statement deletes at most `limit` rows older than the cutoff from one table; a backend runs
them in this order, one short transaction per step, moving on when a table has nothing left.
Seals go first, so a derived slot whose rows are being pruned is no longer trusted; then the
user and count rollups, the events, closed episodes (by opening time) and finished deliveries
(delivered or failed, by creation time). The cutoff is a whole UTC day, so every rollup slot is
either kept whole or pruned whole and the stats of every range that is kept stay exact.
"""

from __future__ import annotations

from signals.instants import MICROS_PER_SECOND
from signals.store.rollup import COUNT_LEVELS, COUNT_TABLES, SEALED_LEVELS, USER_LEVELS, USER_TABLES

DAY_US = 86_400 * MICROS_PER_SECOND


def check_prune(before_us: int, limit: int) -> None:
    if before_us % DAY_US:
        raise ValueError("the retention cutoff must be a whole UTC day")
    if limit < 1:
        raise ValueError("limit must be at least 1")


def prune_statements(cutoff: str, limit: str) -> tuple[tuple[str, bool], ...]:
    """(statement, whether its cutoff is in microseconds rather than seconds), with the
    backend's placeholders for the cutoff and the limit."""
    return (
        *(
            (
                f"DELETE FROM user_seals WHERE level = {level} AND slot IN (SELECT slot "
                f"FROM user_seals WHERE level = {level} AND slot < {cutoff} LIMIT {limit})",
                False,
            )
            for level in SEALED_LEVELS
        ),
        *(
            (
                f"DELETE FROM {USER_TABLES[level]} WHERE (slot, user_id) IN (SELECT slot, "
                f"user_id FROM {USER_TABLES[level]} WHERE slot < {cutoff} LIMIT {limit})",
                False,
            )
            for level in USER_LEVELS
        ),
        *(
            (
                f"DELETE FROM {COUNT_TABLES[level]} WHERE (slot, signal_type, sentiment) IN "
                f"(SELECT slot, signal_type, sentiment FROM {COUNT_TABLES[level]} "
                f"WHERE slot < {cutoff} LIMIT {limit})",
                False,
            )
            for level in COUNT_LEVELS
        ),
        (
            "DELETE FROM events WHERE seq IN "
            f"(SELECT seq FROM events WHERE received_us < {cutoff} LIMIT {limit})",
            True,
        ),
        (
            "DELETE FROM episodes WHERE id IN (SELECT id FROM episodes "
            f"WHERE opened_us < {cutoff} AND closed_at IS NOT NULL LIMIT {limit})",
            True,
        ),
        (
            "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries "
            f"WHERE created_us < {cutoff} AND status <> 'pending' LIMIT {limit})",
            True,
        ),
    )
