"""Messages of the stream back into records.

Only `signals` publishes to the journal's subjects; a message that does not decode as a record
was put there by something else. It is skipped with an error naming its place in the stream,
never guessed at: the store consumer and replay go on with the records around it.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
import structlog

from signals.events import Record, record_decoder

log = structlog.get_logger(__name__)


def decode_messages(messages: Iterable[tuple[bytes, int]]) -> list[Record]:
    """The records among (data, stream sequence) pairs, in their order."""
    records = []
    for data, sequence in messages:
        try:
            records.append(record_decoder.decode(data))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.error("jetstream.not_a_record", seq=sequence, error=str(exc))
    return records
