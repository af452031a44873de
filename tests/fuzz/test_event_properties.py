"""Properties of the event validator (docs/api.md): every valid event is accepted and survives the
journal's encoding unchanged; one broken rule is always refused, naming the field it broke.

Each rule has its own mutation of an otherwise valid event. The same holds item by item on the
batch paths (`split_array`, `split_ndjson`): one bad item never spoils its neighbours.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta, timezone
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signals.events import (
    MAX_METADATA_BYTES,
    Event,
    InvalidEvent,
    build_record,
    decode_event,
    record_decoder,
    record_encoder,
    split_array,
    split_ndjson,
)

MAX_TEXT = 300  # a small ingest.max_text_chars keeps examples small; the rule is the same
FIELDS = frozenset(Event.__struct_fields__)
SIGNAL_TYPE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
EVENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
CONTROL = "".join(chr(c) for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)])

# Derandomized: the same examples on every run; a loaded CI machine is no defect (too_slow).
PROPERTY = settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
PER_RULE = settings(PROPERTY, max_examples=15)

# Valid values, field by field ---------------------------------------------------------------

# Any text a client can send: every code point JSON carries (lone surrogates are not text).
anything = st.characters(codec="utf-8")
any_text = st.text(anything, max_size=40)
printable = st.characters(codec="utf-8", exclude_characters=CONTROL)
user_ids = st.text(printable, min_size=1, max_size=128)
signal_types = st.from_regex(SIGNAL_TYPE, fullmatch=True)
event_ids = st.from_regex(EVENT_ID, fullmatch=True)
short_texts = st.text(anything, max_size=128)
offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """RFC 3339 with an offset, in each spelling its grammar allows: T/t, Z/z, 0-9 fraction
    digits (not the space its note permits: JSON Schema's date-time does not)."""
    moment = draw(st.datetimes(timezones=offsets))
    places = draw(st.integers(0, 9))
    fraction = f".{draw(st.integers(0, 10**places - 1)):0{places}d}" if places else ""
    sep = draw(st.sampled_from("Tt"))
    offset = moment.strftime("%z")
    zone = f"{offset[:3]}:{offset[3:]}"
    if zone == "+00:00":
        zone = draw(st.sampled_from(["Z", "z", "+00:00", "-00:00"]))
    day = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"  # %Y does not pad year 1
    return f"{day}{sep}{moment:%H:%M:%S}{fraction}{zone}"


metadata_values = st.one_of(
    any_text,
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
metadata = st.dictionaries(any_text, metadata_values, max_size=32).filter(
    lambda m: len(msgspec.json.encode(m)) <= MAX_METADATA_BYTES
)
OPTIONAL: dict[str, st.SearchStrategy[Any]] = {
    "text": st.text(anything, max_size=MAX_TEXT),
    "event_id": event_ids,
    "timestamp": timestamps(),
    "agent_id": short_texts,
    "session_id": short_texts,
    "metadata": metadata,
}


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {"user_id": draw(user_ids), "signal_type": draw(signal_types)}
    for name in sorted(draw(st.sets(st.sampled_from(sorted(OPTIONAL))))):
        event[name] = draw(st.none() | OPTIONAL[name])
    return event


def encode(value: Any, how: str) -> bytes:
    """Both spellings a client may use: ASCII with escapes, or raw UTF-8."""
    return json.dumps(value).encode() if how == "ascii" else msgspec.json.encode(value)


encodings = st.sampled_from(["ascii", "utf-8"])


def problems_of(body: bytes | msgspec.Raw) -> list[Any]:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(body, MAX_TEXT)
    return caught.value.problems


# Valid events ------------------------------------------------------------------------------


@PROPERTY
@given(valid_events(), encodings)
def test_valid_events_are_accepted_and_round_trip(event: dict[str, Any], how: str) -> None:
    decoded = decode_event(encode(event, how), MAX_TEXT)
    assert decoded == Event(**event)
    record = build_record(decoded, request_id="r", sentiment="neutral", cues=[])
    kept = record_decoder.decode(record_encoder.encode(record))
    assert kept == record
    given_fields = {name: value for name, value in event.items() if name != "event_id" or value}
    assert {name: getattr(kept, name) for name in given_fields} == given_fields


@PROPERTY
@given(st.lists(valid_events(), min_size=1, max_size=5), encodings)
def test_valid_batches_are_accepted_item_by_item(events: list[dict[str, Any]], how: str) -> None:
    from_array = [decode_event(raw, MAX_TEXT) for raw in split_array(encode(events, how))]
    ndjson = b"".join(encode(event, how) + b"\n" for event in events)
    from_ndjson = [decode_event(line, MAX_TEXT) for line in split_ndjson(ndjson)]
    assert from_array == from_ndjson == [Event(**event) for event in events]


# One broken rule ---------------------------------------------------------------------------

not_strings = st.one_of(
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(any_text, st.integers(), max_size=2),
)


@st.composite
def with_control_char(draw: st.DrawFn) -> str:
    value = draw(user_ids)[:127]
    at = draw(st.integers(0, len(value)))
    return value[:at] + draw(st.sampled_from(CONTROL)) + value[at:]


def not_matching(pattern: re.Pattern[str]) -> st.SearchStrategy[str]:
    """Near misses of a pattern (a trailing newline, which Python's `$` lets in; one bad
    character; the wrong first character; too long) and arbitrary text."""
    near = st.from_regex(pattern, fullmatch=True).flatmap(
        lambda s: st.sampled_from([s + "\n", s + "!", "\u00e9" + s, "A" + s, " " + s, s * 129])
    )
    return (near | st.text(max_size=70)).filter(lambda s: pattern.fullmatch(s) is None)


# month-day and hour:minute that no calendar has
IMPOSSIBLE = [
    "13-01T00:00",
    "00-01T00:00",
    "02-30T00:00",
    "04-31T00:00",
    "01-32T00:00",
    "01-00T00:00",
    "01-01T24:00",
    "01-01T00:60",
]


@st.composite
def impossible_dates(draw: st.DrawFn) -> str:
    """Shaped like RFC 3339 but no real moment: month 13, day 32, February 30, hour 24..."""
    return f"{draw(st.integers(1, 9999)):04d}-{draw(st.sampled_from(IMPOSSIBLE))}:00Z"


nested_metadata = st.tuples(
    st.dictionaries(any_text, metadata_values, max_size=8),
    any_text,
    st.lists(st.integers(), max_size=2) | st.dictionaries(any_text, st.integers(), max_size=2),
).map(lambda t: {**t[0], t[1]: t[2]})
too_many_keys = st.dictionaries(any_text, st.integers(), min_size=33, max_size=40)
too_big = st.integers(1, 32).map(
    lambda n: {f"k{i}": "x" * (MAX_METADATA_BYTES // n) for i in range(n)}
)
too_long_user_id = st.text(printable, min_size=129, max_size=160)
too_long = st.text(anything, min_size=129, max_size=160)
MISSING = st.nothing()


def nested_key(metadata: dict[str, Any]) -> list[str]:
    """The key of the one nested value, which the problem names."""
    return [key for key, value in metadata.items() if isinstance(value, list | dict)]


# rule -> (field, the value breaking it (MISSING: leave the field out), loc below "body", or
# what makes that loc of the value)
MUTATIONS: dict[str, tuple[str, st.SearchStrategy[Any], list[str] | Callable[[Any], list[str]]]] = {
    "user_id missing": ("user_id", MISSING, []),
    "user_id not a string": ("user_id", not_strings | st.none(), []),
    "user_id empty": ("user_id", st.just(""), []),
    "user_id too long": ("user_id", too_long_user_id, []),
    "user_id control character": ("user_id", with_control_char(), []),
    "signal_type missing": ("signal_type", MISSING, []),
    "signal_type not a string": ("signal_type", not_strings | st.none(), []),
    "signal_type no match": ("signal_type", not_matching(SIGNAL_TYPE), []),
    "text not a string": ("text", not_strings, []),
    "text too long": ("text", st.text(anything, min_size=MAX_TEXT + 1, max_size=MAX_TEXT + 40), []),
    "event_id not a string": ("event_id", not_strings, []),
    "event_id bad": ("event_id", not_matching(EVENT_ID), []),
    "timestamp not a string": ("timestamp", not_strings, []),
    "timestamp no offset": ("timestamp", st.datetimes().map(lambda d: d.isoformat()), []),
    "timestamp impossible date": ("timestamp", impossible_dates(), []),
    "timestamp with a space": ("timestamp", timestamps().map(lambda t: t[:10] + " " + t[11:]), []),
    "timestamp not a date": ("timestamp", st.text(max_size=30), []),
    "agent_id not a string": ("agent_id", not_strings, []),
    "agent_id too long": ("agent_id", too_long, []),
    "session_id not a string": ("session_id", not_strings, []),
    "session_id too long": ("session_id", too_long, []),
    "metadata not an object": ("metadata", any_text | st.integers() | st.lists(st.integers()), []),
    "metadata nested value": ("metadata", nested_metadata, nested_key),
    "metadata too many keys": ("metadata", too_many_keys, []),
    "metadata too big": ("metadata", too_big, []),
}


def broken(rule: str) -> st.SearchStrategy[tuple[dict[str, Any], list[str | int]]]:
    """An otherwise valid event breaking only `rule`, and the loc its problem must name."""
    field, values, below = MUTATIONS[rule]

    @st.composite
    def mutate(draw: st.DrawFn) -> tuple[dict[str, Any], list[str | int]]:
        event = draw(valid_events())
        event.pop(field, None)
        if values is not MISSING:
            event[field] = draw(values)
        named = below(event[field]) if callable(below) else below
        return event, ["body", field, *named]

    return mutate()


@pytest.mark.parametrize("rule", sorted(MUTATIONS))
def test_one_broken_rule_is_refused_naming_its_field(rule: str) -> None:
    @PER_RULE
    @given(broken(rule), encodings)
    def check(case: tuple[dict[str, Any], list[str | int]], how: str) -> None:
        event, loc = case
        (problem,) = problems_of(encode(event, how))
        assert problem.loc == loc

    check()


# Names that look like the parts of msgspec's message the validator reads the field name from.
tricky_names = st.tuples(
    st.text("ab", max_size=2),
    st.sampled_from(["`", "``", " - at `$[", " - at `$.q", " - at `$[0]", "[", "]", "."]),
    st.text("ab", max_size=2),
).map("".join)
unknown_names = (st.text(anything, max_size=20) | tricky_names).filter(lambda n: n not in FIELDS)


@PROPERTY
@given(valid_events(), unknown_names, encodings)
def test_an_unknown_field_is_refused_by_its_name(
    event: dict[str, Any], name: str, how: str
) -> None:
    (problem,) = problems_of(encode({**event, name: 1}, how))
    assert problem.loc == ["body", name]
    assert problem.msg == f"unknown field {name!r}"


@PROPERTY
@given(
    st.lists(valid_events(), min_size=1, max_size=4),
    st.sampled_from(sorted(MUTATIONS)).flatmap(broken),
    st.data(),
)
def test_one_bad_item_spoils_only_itself(
    events: list[dict[str, Any]], case: tuple[dict[str, Any], list[str | int]], data: st.DataObject
) -> None:
    bad, loc = case
    at = data.draw(st.integers(0, len(events)))
    batch = [*events[:at], bad, *events[at:]]
    for index, raw in enumerate(split_array(msgspec.json.encode(batch))):
        if index == at:
            assert [problem.loc for problem in problems_of(raw)] == [loc]
        else:
            assert decode_event(raw, MAX_TEXT) == Event(**batch[index])
