"""The event a client sends and the record `signals` keeps (docs/api.md).

Validation is msgspec's: one typed decode rejects unknown fields, wrong types and broken
constraints, and its error names the path. The few rules that depend on settings (text length) or
need more than a constraint (metadata size, a real calendar date) are checked right after, with
the same shape of error.
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

from signals.instants import utc_now
from signals.malformed import too_deep, where_it_broke
from signals.tracing.traceparent import TraceParent

# Patterns end in \Z, not $: msgspec matches with Python's `re`, where `$` also matches before a
# final newline, so "chat\n" would pass as a signal type (the OpenAPI document publishes `$`).
ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}\Z"
NO_CONTROL_CHARS = r"^[^\x00-\x1f\x7f-\x9f]*\Z"
# RFC 3339's date-time (section 5.6, the format JSON Schema's "date-time" names) with an offset.
# Each field's range is in the pattern, so that the calendar (February 30) is all it leaves to
# `datetime`: no year 0, no leap second, no offset of a day or more, which datetime refuses.
# [0-9], not \d: Python's \d also matches other scripts' digits, JSON Schema's does not.
RFC3339 = (
    r"^(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
    r"-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])\Z"
)
MAX_METADATA_BYTES = 4096
MAX_PROBLEMS = 50  # listed per event (see InvalidEvent)

UserId = Annotated[str, Meta(min_length=1, max_length=128, pattern=NO_CONTROL_CHARS)]
SignalType = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_.-]{0,63}\Z")]
EventId = Annotated[str, Meta(pattern=ID_PATTERN)]
ShortText = Annotated[str, Meta(max_length=128)]
Timestamp = Annotated[str, Meta(pattern=RFC3339)]
MetadataValue = str | int | float | bool | None
Metadata = Annotated[dict[str, MetadataValue], Meta(max_length=32)]


class Event(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What a client posts. Field constraints are the contract's; `text` is capped by settings."""

    user_id: UserId
    signal_type: SignalType
    text: str | None = None
    event_id: EventId | None = None
    timestamp: Timestamp | None = None
    agent_id: ShortText | None = None
    session_id: ShortText | None = None
    metadata: Metadata | None = None


class Record(Struct, frozen=True, kw_only=True):
    """One accepted event as the journal and the store keep it: one JSON line per record."""

    event_id: str
    user_id: str
    signal_type: str
    received_at: str
    sentiment: str
    sentiment_cues: list[str]
    request_id: str
    text: str | None = None
    timestamp: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    metadata: dict[str, MetadataValue] | None = None
    # The W3C trace context the record was accepted in (`signals.tracing`): the request's span
    # while tracing is on, else the caller's `traceparent` or a new trace. The router forward
    # and the alert webhook continue it. None only on records journaled before tracing existed.
    trace_id: str | None = None
    traceparent: str | None = None


class Problem(Struct, frozen=True):
    """One validation failure: where (`loc`, from the body down) and what."""

    loc: list[str | int]
    msg: str


class InvalidEvent(Exception):
    """The body is JSON but breaks the event's rules: its first MAX_PROBLEMS - 1 problems, then
    how many more (a body of unknown fields must not be answered with ten times its size)."""

    def __init__(self, problems: list[Problem]) -> None:
        if len(problems) > MAX_PROBLEMS:
            more = Problem(["body"], f"{len(problems) - MAX_PROBLEMS + 1} more problems not listed")
            problems = [*problems[: MAX_PROBLEMS - 1], more]
        super().__init__("; ".join(p.msg for p in problems))
        self.problems = problems


class MalformedJSON(Exception):
    """The body is not JSON; the message says where it broke."""


_event_decoder = msgspec.json.Decoder(Event)
_events_decoder = msgspec.json.Decoder(list[Event])
_raw_list_decoder = msgspec.json.Decoder(list[msgspec.Raw])
_any_decoder = msgspec.json.Decoder()
record_encoder = msgspec.json.Encoder()
record_decoder = msgspec.json.Decoder(Record)


def _loc_from_path(path: str) -> list[str | int]:
    """`$.metadata.key` or `$[3].user_id` -> ["metadata", "key"] / [3, "user_id"]."""
    loc: list[str | int] = []
    token = ""
    i = 1 if path.startswith("$") else 0
    while i < len(path):
        char = path[i]
        if char == ".":
            if token:
                loc.append(token)
            token = ""
        elif char == "[":
            if token:
                loc.append(token)
            token = ""
            end = path.index("]", i)
            inner = path[i + 1 : end]
            loc.append(int(inner) if inner.isdigit() else inner)
            i = end
        else:
            token += char
        i += 1
    if token:
        loc.append(token)
    return loc


# msgspec ends a message with " - at `<path>`" below the top level. A path is `$` then `.name`,
# `[index]` or `[...]`, so it is matched at the very end and in that shape only: an unknown
# field's name is the client's and may hold backticks or " - at `" itself.
_AT_PATH = re.compile(r" - at `(\$(?:\.[A-Za-z_][A-Za-z0-9_]*|\[(?:\d+|\.\.\.)\])*)`\Z")
_FIELD_ERRORS = {
    "Object contains unknown field `": "unknown field {!r}",
    "Object missing required field `": "field required",
}


def _detail_and_loc(message: str) -> tuple[str, list[str | int]]:
    at = _AT_PATH.search(message)
    if at is None:
        return message, []
    detail = message[: at.start()]
    if detail.startswith(tuple(_FIELD_ERRORS)) and not detail.endswith("`"):
        return message, []  # the " - at `...`" was the end of a field's name
    return detail, _loc_from_path(at[1])


def problem_from_validation(exc: msgspec.ValidationError) -> Problem:
    detail, loc = _detail_and_loc(str(exc))
    for prefix, msg in _FIELD_ERRORS.items():
        if detail.startswith(prefix) and detail.endswith("`"):
            field = detail[len(prefix) : -1]
            return Problem(loc=["body", *loc, field], msg=msg.format(field))
    return Problem(loc=["body", *loc], msg=detail)


def _check_limits(
    text: str | None, timestamp: str | None, metadata: dict[str, Any] | None, max_text_chars: int
) -> list[Problem]:
    """The rules a field's type cannot say: the configured text length, a real RFC 3339
    instant, the encoded size of metadata."""
    problems = []
    if text is not None and len(text) > max_text_chars:
        problems.append(Problem(["body", "text"], f"Expected `str` of length <= {max_text_chars}"))
    if timestamp is not None:
        try:
            parse_instant(timestamp)
        except ValueError:
            problems.append(Problem(["body", "timestamp"], "not a valid RFC 3339 date-time"))
    if metadata and len(record_encoder.encode(metadata)) > MAX_METADATA_BYTES:
        problems.append(
            Problem(["body", "metadata"], f"encoded metadata exceeds {MAX_METADATA_BYTES} bytes")
        )
    return problems


def decode_event(body: bytes | msgspec.Raw, max_text_chars: int) -> Event:
    """Decode and validate one event. Raises `MalformedJSON` or `InvalidEvent`."""
    try:
        event = _event_decoder.decode(body)
    except msgspec.ValidationError as exc:
        tree = check_json(body)  # a broken document is malformed even where a type error is first
        raise InvalidEvent(
            _every_problem(tree, max_text_chars) or [problem_from_validation(exc)]
        ) from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise malformed(exc, body) from None
    problems = _check_limits(event.text, event.timestamp, event.metadata, max_text_chars)
    if problems:
        raise InvalidEvent(problems)
    return event


_FIELD_TYPES = {field.name: field.type for field in msgspec.structs.fields(Event)}
_REQUIRED = [field.name for field in msgspec.structs.fields(Event) if field.required]


def _every_problem(tree: Any, max_text_chars: int) -> list[Problem]:
    """Each field of an invalid event (decoded as plain JSON) checked on its own, in the body's
    order, then the missing ones: the decoder stops at the first problem, a client fixing its
    events wants them all."""
    if not isinstance(tree, dict):
        return []
    problems: list[Problem] = []
    sound: dict[str, Any] = {}
    for name, value in tree.items():
        field_type = _FIELD_TYPES.get(name)
        if field_type is None:
            problems.append(Problem(["body", name], f"unknown field {name!r}"))
            continue
        try:
            sound[name] = msgspec.convert(value, field_type)
        except msgspec.ValidationError as exc:
            named = _metadata_problems(value) if name == "metadata" else []
            detail, loc = _detail_and_loc(str(exc))
            problems += named or [Problem(["body", name, *loc], detail)]
    problems += [Problem(["body", key], "field required") for key in _REQUIRED if key not in tree]
    # The limits of the fields that are sound on their own.
    limits = _check_limits(
        sound.get("text"), sound.get("timestamp"), sound.get("metadata"), max_text_chars
    )
    return problems + limits


def _metadata_problems(metadata: object) -> list[Problem]:
    """Each metadata value that is not a flat one, named by its key (the decoder says `[...]`)."""
    if not isinstance(metadata, dict):
        return []
    problems = []
    for key, value in metadata.items():
        try:
            msgspec.convert(value, MetadataValue)
        except msgspec.ValidationError as exc:
            problems.append(Problem(["body", "metadata", key], str(exc)))
    return problems


def decode_valid_events(body: bytes, max_text_chars: int) -> list[Event] | None:
    """A JSON array of events in one decode, if every item is a valid event; None when any
    item (or the body) is not, for `split_array` and `decode_event` to say which and why."""
    try:
        events = _events_decoder.decode(body)
    except (msgspec.DecodeError, RecursionError):  # ValidationError is a DecodeError
        return None
    for event in events:
        if _check_limits(event.text, event.timestamp, event.metadata, max_text_chars):
            return None
    return events


def split_array(body: bytes) -> list[msgspec.Raw]:
    """A JSON array into its undecoded items. Raises `MalformedJSON` or `InvalidEvent`."""
    try:
        return _raw_list_decoder.decode(body)
    except msgspec.ValidationError:
        raise InvalidEvent([Problem(["body"], "Expected `array` of events")]) from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise malformed(exc, body) from None


def split_ndjson(body: bytes) -> list[bytes]:
    """NDJSON into its non-blank lines; each line is decoded (and rejected) on its own."""
    return [line for line in body.split(b"\n") if line.strip()]


def is_json_array(body: bytes) -> bool:
    return body.lstrip()[:1] == b"["


def malformed(
    exc: msgspec.DecodeError | RecursionError, body: bytes | msgspec.Raw
) -> MalformedJSON:
    """The decoder's complaint, saying where it broke. msgspec raises RecursionError past its
    nesting limit (about 1000 levels); no event nests deeper than a few, so such a body is
    malformed too rather than left to become a 500."""
    if isinstance(exc, RecursionError):
        return MalformedJSON(too_deep(bytes(body)))
    return MalformedJSON(where_it_broke(str(exc), bytes(body)))


def check_json(body: bytes | msgspec.Raw) -> Any:
    try:
        return _any_decoder.decode(body)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise malformed(exc, body) from None


CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class _IdClock:
    """Time-ordered unique ids (ULID layout, Crockford base32): sortable by creation time.

    Within one millisecond the random part is incremented, so ids from this process are
    strictly increasing even when many are made in the same millisecond. The time prefix is
    encoded once per millisecond and the random part two characters (10 bits) per lookup: this
    runs once per event on the ingest path.
    """

    ALPHABET = CROCKFORD
    PAIRS = tuple(a + b for a in CROCKFORD for b in CROCKFORD)
    RANDOM_BITS = 80

    def __init__(self) -> None:
        self._last_ms = -1
        self._random = 0
        self._prefix = ""

    def next_id(self) -> str:
        now_ms = time.time_ns() // 1_000_000
        if now_ms <= self._last_ms:
            self._random = (self._random + 1) & ((1 << self.RANDOM_BITS) - 1)
        else:
            self._last_ms = now_ms
            self._prefix = self._encode_time(now_ms)
            # One bit short of 80, so a millisecond's increments never wrap around.
            self._random = int.from_bytes(os.urandom(10), "big") >> 1
        r, pairs = self._random, self.PAIRS
        return (
            self._prefix
            + pairs[r >> 70]
            + pairs[(r >> 60) & 1023]
            + pairs[(r >> 50) & 1023]
            + pairs[(r >> 40) & 1023]
            + pairs[(r >> 30) & 1023]
            + pairs[(r >> 20) & 1023]
            + pairs[(r >> 10) & 1023]
            + pairs[r & 1023]
        )

    def _encode_time(self, now_ms: int) -> str:
        chars = []
        for _ in range(10):
            chars.append(self.ALPHABET[now_ms & 31])
            now_ms >>= 5
        return "".join(reversed(chars))


new_event_id = _IdClock().next_id


_RFC3339 = re.compile(RFC3339)


def parse_instant(value: str) -> datetime:
    """An RFC 3339 date-time with an offset (`RFC3339`, a real calendar date) as an aware
    datetime; ValueError for anything else, even what `datetime.fromisoformat` would take."""
    if not _RFC3339.match(value):
        raise ValueError("not an RFC 3339 date-time with an offset")
    return datetime.fromisoformat(value.upper())


def epoch_seconds(received_at: str) -> float:
    return datetime.fromisoformat(received_at).timestamp()


def build_record(
    event: Event,
    *,
    request_id: str,
    sentiment: str,
    cues: list[str],
    received_at: str | None = None,
    trace: TraceParent | None = None,
) -> Record:
    return Record(
        event_id=event.event_id or new_event_id(),
        user_id=event.user_id,
        signal_type=event.signal_type,
        received_at=received_at or utc_now(),
        sentiment=sentiment,
        sentiment_cues=cues,
        request_id=request_id,
        text=event.text,
        timestamp=event.timestamp,
        agent_id=event.agent_id,
        session_id=event.session_id,
        metadata=event.metadata,
        trace_id=None if trace is None else trace.trace_id,
        traceparent=None if trace is None else trace.header,
    )
