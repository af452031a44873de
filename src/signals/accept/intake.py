"""Turning request bodies into durable records: the handlers both ports' POST endpoints share.

`/v1/log` and `/v1/events` (one event), `/v1/log/batch` and `/v1/events` (an array, or NDJSON on
the ingest port) and `/v1/validate` all validate the same way and answer the same shapes. Each
is a `JsonEndpoint` (`signals.endpoints`): a handler here gets the ASGI scope, the media type
and the body, and returns the status and what to answer.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.types import Scope

from signals.accept.pipeline import Overloaded, Pipeline
from signals.endpoints import Handler, JsonEndpoint
from signals.errors import JournalError, StoreUnavailable
from signals.events import (
    Event,
    InvalidEvent,
    MalformedJSON,
    Problem,
    Record,
    build_record,
    decode_event,
    decode_valid_events,
    is_json_array,
    split_array,
    split_ndjson,
)
from signals.http import ApiError, request_id_of, unavailable
from signals.instants import utc_now
from signals.metrics import Metrics
from signals.sentiment import Classifier
from signals.settings import IngestSettings
from signals.tracing.base import trace_of
from signals.tracing.traceparent import TraceParent

JSON = "application/json"
NDJSON = "application/x-ndjson"


class Accepted(msgspec.Struct, frozen=True):
    event_id: str
    sentiment: str
    sentiment_cues: tuple[str, ...]
    received_at: str
    duplicate: bool


class Rejected(msgspec.Struct, frozen=True):
    index: int
    errors: list[Problem]


class BatchAccepted(msgspec.Struct, frozen=True):
    accepted: int
    duplicates: int
    event_ids: list[str]
    rejected: list[Rejected]


class Valid(msgspec.Struct, frozen=True):
    valid: bool


class Intake:
    def __init__(
        self,
        *,
        pipeline: Pipeline,
        classifier: Classifier,
        settings: IngestSettings,
        metrics: Metrics,
    ) -> None:
        self._pipeline = pipeline
        self._classifier = classifier
        self._settings = settings
        self._metrics = metrics
        self.log_one = self._endpoint(self._log_one, (JSON,))
        self.log_batch = self._endpoint(self._log_batch, (JSON, NDJSON))
        self.events = self._endpoint(self._events, (JSON,))
        self.validate = self._endpoint(self._validate, (JSON,))

    def _endpoint(self, handler: Handler, media: tuple[str, ...]) -> JsonEndpoint:
        limit = self._settings.max_body_bytes
        return JsonEndpoint(handler, media=media, limit=limit, refused=self._count_refusal)

    def _count_refusal(self, code: str) -> None:
        self._metrics.rejections.labels(code).inc()

    def _record(
        self, event: Event, request_id: str, received_at: str, trace: TraceParent
    ) -> Record:
        result = self._classifier.classify(event.text)
        return build_record(
            event,
            request_id=request_id,
            sentiment=result.label,
            cues=list(result.cues),
            received_at=received_at,
            trace=trace,
        )

    def _refusal(self, exc: MalformedJSON | InvalidEvent, message: str) -> ApiError:
        """The envelope for a body that is not JSON (400) or not events (422), counted."""
        if isinstance(exc, MalformedJSON):
            self._metrics.rejections.labels("malformed_json").inc()
            return ApiError(400, f"malformed JSON: {exc}")
        self._metrics.rejections.labels("validation_failed").inc()
        return ApiError(422, message, details=[msgspec.structs.asdict(p) for p in exc.problems])

    def _decode_one(self, body: bytes | msgspec.Raw) -> Event:
        try:
            return decode_event(body, self._settings.max_text_chars)
        except (MalformedJSON, InvalidEvent) as exc:
            raise self._refusal(exc, "invalid event") from None

    async def _accept(self, records: list[Record], generated: list[bool]) -> list[Any]:
        try:
            return await self._pipeline.accept(records, generated)
        except Overloaded as exc:
            self._metrics.rejections.labels("overloaded").inc()
            raise ApiError(503, f"overloaded: {exc}", headers={"Retry-After": "1"}) from None
        except JournalError:
            # The journal logged the outage once; a log line per refused request would drown it.
            self._metrics.rejections.labels("unavailable").inc()
            raise unavailable(
                "the journal cannot make events durable now (disk full, I/O error, or JetStream "
                "unreachable): nothing of this request was accepted; retry later"
            ) from None
        except StoreUnavailable:
            self._metrics.rejections.labels("unavailable").inc()
            raise unavailable(
                "a duplicate's first answer is in the store, which does not answer now; retry later"
            ) from None

    async def _log_one(self, scope: Scope, media: str, body: bytes) -> tuple[int, Accepted]:
        return await self._single(scope, body)

    async def _log_batch(self, scope: Scope, media: str, body: bytes) -> tuple[int, BatchAccepted]:
        return await self._accept_items(scope, *self._batch(media, body))

    async def _events(self, scope: Scope, media: str, body: bytes) -> tuple[int, Any]:
        """Integrity's `/v1/events`: one event, or a JSON array of them."""
        if not is_json_array(body):
            return await self._single(scope, body)
        return await self._accept_items(scope, *self._batch(JSON, body))

    async def _single(self, scope: Scope, body: bytes) -> tuple[int, Accepted]:
        event = self._decode_one(body)
        record = self._record(event, request_id_of(scope), utc_now(), trace_of(scope))
        (result,) = await self._accept([record], [event.event_id is None])
        answer = result.answer
        accepted = Accepted(
            answer.event_id,
            answer.sentiment,
            answer.sentiment_cues,
            answer.received_at,
            result.duplicate,
        )
        return 200 if result.duplicate else 202, accepted

    async def _validate(self, scope: Scope, media: str, body: bytes) -> tuple[int, Valid]:
        if is_json_array(body):
            _, rejected = self._decode_items(self._split(JSON, body))
            if rejected:
                raise self._all_rejected(rejected, "invalid events")
        else:
            self._decode_one(body)
        return 200, Valid(True)

    def _split(self, media: str, body: bytes) -> list[bytes | msgspec.Raw]:
        try:
            items: list[bytes | msgspec.Raw] = (
                list(split_ndjson(body)) if media == NDJSON else list(split_array(body))
            )
        except (MalformedJSON, InvalidEvent) as exc:
            raise self._refusal(exc, "a batch is an array of events") from None
        self._check_count(len(items))
        return items

    def _check_count(self, count: int) -> None:
        if count > self._settings.max_batch:
            self._metrics.rejections.labels("payload_too_large").inc()
            raise ApiError(
                413,
                f"batch of {count} events exceeds {self._settings.max_batch}",
                details=[{"max_batch": self._settings.max_batch}],
            )
        if not count:
            self._metrics.rejections.labels("validation_failed").inc()
            raise ApiError(422, "empty batch", details=[{"loc": ["body"], "msg": "no events"}])

    def _batch(self, media: str, body: bytes) -> tuple[list[tuple[int, Event]], list[Rejected]]:
        """The batch's valid events (with their index) and its rejected items. A JSON array of
        valid events is decoded in one pass; otherwise each item on its own, to say which
        items are wrong and why."""
        if media != NDJSON:
            events = decode_valid_events(body, self._settings.max_text_chars)
            if events is not None:
                self._check_count(len(events))
                return list(enumerate(events)), []
        return self._decode_items(self._split(media, body))

    def _decode_items(
        self, items: list[bytes | msgspec.Raw]
    ) -> tuple[list[tuple[int, Event]], list[Rejected]]:
        events: list[tuple[int, Event]] = []
        rejected: list[Rejected] = []
        for index, item in enumerate(items):
            try:
                events.append((index, decode_event(item, self._settings.max_text_chars)))
            except MalformedJSON as exc:
                rejected.append(
                    Rejected(index, [Problem(["body", index], f"malformed JSON: {exc}")])
                )
            except InvalidEvent as exc:
                problems = [Problem(["body", index, *p.loc[1:]], p.msg) for p in exc.problems]
                rejected.append(Rejected(index, problems))
        return events, rejected

    def _all_rejected(self, rejected: list[Rejected], message: str) -> ApiError:
        details = [msgspec.structs.asdict(p) for item in rejected for p in item.errors]
        return ApiError(422, message, details=details)

    async def _accept_items(
        self, scope: Scope, events: list[tuple[int, Event]], rejected: list[Rejected]
    ) -> tuple[int, BatchAccepted]:
        if rejected:
            self._metrics.rejections.labels("validation_failed").inc(len(rejected))
        if not events:
            raise self._all_rejected(rejected, "every event in the batch is invalid")
        request_id = request_id_of(scope)
        received_at = utc_now()
        trace = trace_of(scope)
        records = [self._record(event, request_id, received_at, trace) for _, event in events]
        results = await self._accept(records, [event.event_id is None for _, event in events])
        duplicates = sum(1 for result in results if result.duplicate)
        return 202, BatchAccepted(
            accepted=len(results) - duplicates,
            duplicates=duplicates,
            event_ids=[result.answer.event_id for result in results],
            rejected=rejected,
        )
