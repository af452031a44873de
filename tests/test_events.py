"""The event schema: what is accepted, and where each rejection points."""

from __future__ import annotations

import msgspec
import pytest

from signals.events import (
    MAX_PROBLEMS,
    Event,
    InvalidEvent,
    MalformedJSON,
    Record,
    build_record,
    decode_event,
    new_event_id,
    record_decoder,
    record_encoder,
    split_array,
    split_ndjson,
)

MAX_TEXT = 50


def body(**fields: object) -> bytes:
    return msgspec.json.encode({"user_id": "u-1", "signal_type": "chat", **fields})


def test_minimal_and_full_events_are_accepted() -> None:
    assert decode_event(body(), MAX_TEXT) == Event(user_id="u-1", signal_type="chat")
    full = decode_event(
        body(
            text="hello",
            event_id="evt:1.a_b-c",
            timestamp="2026-01-02T03:04:05.123+02:00",
            agent_id="bot",
            session_id="s",
            metadata={"a": 1, "b": "x", "c": None, "d": True, "e": 1.5},
        ),
        MAX_TEXT,
    )
    assert full.timestamp == "2026-01-02T03:04:05.123+02:00"  # kept as given
    assert full.metadata == {"a": 1, "b": "x", "c": None, "d": True, "e": 1.5}


@pytest.mark.parametrize(
    ("fields", "loc", "fragment"),
    [
        ({"user_id": ""}, ["body", "user_id"], "length >= 1"),
        ({"user_id": "x" * 129}, ["body", "user_id"], "length <= 128"),
        ({"user_id": "a\x07b"}, ["body", "user_id"], "regex"),
        ({"user_id": 5}, ["body", "user_id"], "Expected `str`"),
        ({"signal_type": "Chat"}, ["body", "signal_type"], "regex"),
        ({"signal_type": "a" * 65}, ["body", "signal_type"], "regex"),
        ({"text": "x" * (MAX_TEXT + 1)}, ["body", "text"], f"<= {MAX_TEXT}"),
        ({"event_id": "has space"}, ["body", "event_id"], "regex"),
        ({"event_id": "x" * 129}, ["body", "event_id"], "regex"),
        ({"timestamp": "2026-01-02T03:04:05"}, ["body", "timestamp"], "regex"),
        ({"timestamp": "2026-13-02T03:04:05Z"}, ["body", "timestamp"], "regex"),
        ({"timestamp": "2026-01-02 03:04:05Z"}, ["body", "timestamp"], "regex"),
        ({"timestamp": "2026-01-02T03:04:60Z"}, ["body", "timestamp"], "regex"),
        ({"timestamp": "2026-02-30T03:04:05Z"}, ["body", "timestamp"], "RFC 3339"),
        ({"agent_id": "x" * 129}, ["body", "agent_id"], "length <= 128"),
        ({"metadata": {"a": [1]}}, ["body", "metadata"], "Expected"),
        ({"metadata": {str(i): i for i in range(33)}}, ["body", "metadata"], "length <= 32"),
        ({"metadata": {"a": "x" * 5000}}, ["body", "metadata"], "4096 bytes"),
        ({"extra": 1}, ["body", "extra"], "unknown field 'extra'"),
    ],
)
def test_each_rule_rejects_with_its_loc(fields: dict[str, object], loc: list[str], fragment: str
                                        ) -> None:  # fmt: skip
    with pytest.raises(InvalidEvent) as caught:
        decode_event(body(**fields), MAX_TEXT)
    (problem,) = caught.value.problems
    assert problem.loc[: len(loc)] == loc
    assert fragment in problem.msg


def test_missing_required_field() -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(b'{"signal_type": "chat"}', MAX_TEXT)
    assert caught.value.problems[0].loc == ["body", "user_id"]
    assert caught.value.problems[0].msg == "field required"


@pytest.mark.parametrize("raw", [b"", b"{", b'{"user_id": 5', b"nope", b'{"a":1}x'])
def test_broken_json_is_malformed_even_when_a_type_error_comes_first(raw: bytes) -> None:
    with pytest.raises(MalformedJSON):
        decode_event(raw, MAX_TEXT)


def test_not_an_object() -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(b"[1]", MAX_TEXT)
    assert caught.value.problems[0].loc == ["body"]


def test_batches_split_without_decoding_items() -> None:
    items = split_array(b'[{"a": 1}, 2, "x"]')
    assert [bytes(item) for item in items] == [b'{"a": 1}', b"2", b'"x"']
    assert split_ndjson(b'{"a":1}\n\n  \n{"b":2}\n') == [b'{"a":1}', b'{"b":2}']
    with pytest.raises(InvalidEvent):
        split_array(b'{"not": "an array"}')
    with pytest.raises(MalformedJSON):
        split_array(b"[1, 2")


def test_generated_ids_are_unique_and_time_ordered() -> None:
    ids = [new_event_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(len(event_id) == 26 for event_id in ids)


def test_record_round_trips_through_its_json_line() -> None:
    event = decode_event(body(text="hi ✓", metadata={"k": "v"}), MAX_TEXT)
    record = build_record(event, request_id="r1", sentiment="neutral", cues=[])
    assert record.event_id and record.received_at.endswith("Z")
    line = record_encoder.encode(record)
    assert b"\n" not in line
    assert record_decoder.decode(line) == record
    assert isinstance(record, Record)


def test_every_problem_of_an_event_is_reported_in_the_body_order() -> None:
    body = b'{"user_id": "", "foo": 1, "signal_type": "X", "timestamp": "yesterday", "metadata": 5}'
    with pytest.raises(InvalidEvent) as refused:
        decode_event(body, 100)
    assert [(p.loc, p.msg) for p in refused.value.problems] == [
        (["body", "user_id"], "Expected `str` of length >= 1"),
        (["body", "foo"], "unknown field 'foo'"),
        (["body", "signal_type"], "Expected `str` matching regex '^[a-z][a-z0-9_.-]{0,63}\\\\Z'"),
        (["body", "timestamp"], refused.value.problems[3].msg),
        (["body", "metadata"], "Expected `object | null`, got `int`"),
    ]


def test_missing_fields_and_the_limits_of_sound_ones_are_reported_together() -> None:
    body = b'{"text": "' + b"x" * 101 + b'", "metadata": {"a": {"b": 1}, "ok": 1, "c": [2]}}'
    with pytest.raises(InvalidEvent) as refused:
        decode_event(body, 100)
    assert [p.loc for p in refused.value.problems] == [
        ["body", "metadata", "a"],
        ["body", "metadata", "c"],
        ["body", "user_id"],
        ["body", "signal_type"],
        ["body", "text"],
    ]
    assert refused.value.problems[-1].msg == "Expected `str` of length <= 100"


def test_an_event_lists_at_most_max_problems_and_counts_the_rest() -> None:
    fields = b", ".join(b'"f%d": 1' % n for n in range(200))
    with pytest.raises(InvalidEvent) as refused:
        decode_event(b"{" + fields + b"}", 100)
    problems = refused.value.problems
    assert len(problems) == MAX_PROBLEMS
    assert problems[0].msg == "unknown field 'f0'"
    assert problems[-2].msg == f"unknown field 'f{MAX_PROBLEMS - 2}'"
    # 200 unknown fields and the two required ones missing
    assert (problems[-1].loc, problems[-1].msg) == (
        ["body"],
        f"{202 - MAX_PROBLEMS + 1} more problems not listed",
    )
