"""Messages of the stream back into records.

Only `signals` publishes to the journal's subjects; a message that does not decode as a record
was put there by something else. It is skipped with an error naming its place in the stream,
never guessed at: the store consumer, the router forwarder and replay go on with the records
around it.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
import structlog

from signals.events import Record, record_decoder

log = structlog.get_logger(__name__)


def decode_messages(messages: Iterable[tuple[bytes, int]]) -> list[Record]:
    """The records among (data, stream sequence) pairs, in their order."""
    return [record for _, record in _records(messages)]


def record_lines(messages: Iterable[tuple[bytes, int]]) -> list[bytes]:
    """The data of the messages that are records, as they are, in their order."""
    return [data for data, _ in _records(messages)]


def _records(messages: Iterable[tuple[bytes, int]]) -> Iterable[tuple[bytes, Record]]:
    for data, sequence in messages:
        try:
            yield data, record_decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.error("jetstream.not_a_record", seq=sequence, error=str(exc))
