"""`export_lines`: the NDJSON the export endpoint streams, the same records as `export`."""

from __future__ import annotations

import msgspec

from signals.events import Record, record_decoder
from signals.store.base import Batch, SignalQuery, Store

from .conftest import StoreOpener
from .samples import record

AWKWARD = [
    record(1, text='quotes " and \\ backslashes, tabs\t and\nlines'),
    record(2, text="control \x00\x01\x1f\x7f chars, é ü 漢字 🎉, \u2028 \u2029 separators"),
    record(3, metadata={"int": 42, "float": 0.1, "tiny": 1e-7, "big": 1.5e300, "neg": -0.0}),
    record(4, metadata={"bool": True, "none": None, "s": 'x"y\\', "long": 2**53 + 1}),
    record(5, metadata={}, sentiment_cues=["stressed:furious", "emphasis:!!"]),
    record(6, agent_id="a-1", session_id="s\x00", timestamp="2025-01-06T10:00:06+02:00"),
]


async def exported_lines(store: Store, query: SignalQuery) -> list[bytes]:
    pieces = [piece async for piece in store.export_lines(query)]
    assert all(piece.endswith(b"\n") for piece in pieces)
    return b"".join(pieces).splitlines()


async def test_lines_are_the_records_of_export(store: Store) -> None:
    await store.apply(Batch(records=AWKWARD))
    lines = await exported_lines(store, SignalQuery())
    records = [r async for r in store.export(SignalQuery())]
    assert [record_decoder.decode(line) for line in lines] == records == AWKWARD
    for line, original in zip(lines, AWKWARD, strict=True):  # field order and nulls, as msgspec
        assert list(msgspec.json.decode(line)) == list(msgspec.structs.asdict(original))


async def test_lines_follow_the_filters_and_chunks(open_store: StoreOpener) -> None:
    records = [record(n, user_id=f"u{n % 3}") for n in range(25)]
    async with open_store(batch_max=4) as store:
        await store.apply(Batch(records=records))
        lines = await exported_lines(store, SignalQuery(user_id="u1"))
        expected: list[Record] = [r for r in records if r.user_id == "u1"]
        assert [record_decoder.decode(line) for line in lines] == expected
        assert await exported_lines(store, SignalQuery(user_id="nobody")) == []
