"""OpenAPI 3.1 documents for both ports, built from the same msgspec types that validate requests.

Schemas come from `msgspec.json.schema_components`, and query rules from the constants `history`
checks them against, so the document cannot drift from the validation. The limits that live in
settings (`ingest.max_text_chars`, `max_batch`, `max_body_bytes`) come from the `IngestSettings`
given (the defaults when none is). Every operation lists each status it can answer, each error
as the envelope with its own `code`, and the headers: `X-Request-ID` on every response,
`Retry-After` on 429 and 503, `WWW-Authenticate` on 401. An unknown path answers 404 and an
undocumented method 405 (`components.responses`); without a key, auth answers 401 first.

msgspec matches patterns with Python's `re`, where `$` also matches before a final newline, so
the validation patterns end in `\\Z`; JSON Schema has no `\\Z` and its `$` means the very end, so
the published patterns end in `$`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import msgspec

from signals import __version__
from signals.accept.intake import Accepted, BatchAccepted, Valid
from signals.events import (
    ID_PATTERN,
    MAX_METADATA_BYTES,
    RFC3339,
    Event,
    Problem,
    Record,
    SignalType,
    UserId,
)
from signals.http import ERROR_CODES, STATUS_CODES, ErrorEnvelope
from signals.ingest.history import RANGES, RECENT_DELIVERIES
from signals.labels import SENTIMENTS, SEVERITIES
from signals.records.delivery import DELIVERY_STATUSES, Delivery
from signals.records.episode import Episode
from signals.settings import IngestSettings
from signals.store.base import Page, Stats
from signals.store.cursor import CURSOR_PATTERNS, MAX_CURSOR_CHARS

Json = dict[str, Any]
JSON = "application/json"
NDJSON = "application/x-ndjson"
WRITE_ERRORS = (400, 401, 403, 413, 415, 422, 429, 503)
READ_ERRORS = (400, 401, 403, 422, 429, 503)
ERRORS = {
    400: "the body is not JSON; the message says where it broke (`malformed_json`), or the Host "
    "is not one this service answers (`invalid_host`, see server.allowed_hosts)",
    401: "no API key, or an unknown one",
    403: "the API key lacks the scope the operation needs",
    404: "no such resource",
    405: "the path does not take this method",
    413: "the body passes ingest.max_body_bytes, or the batch ingest.max_batch items",
    415: "the Content-Type is not one the operation takes, or the body is compressed (a "
    "Content-Encoding other than identity)",
    422: "the request breaks a rule; each detail names where (`loc`) and which (`msg`)",
    429: "too many failed authentications from this address, or the key is over its rate",
    500: "an unexpected error, logged with its traceback (never sent)",
    503: "the queue to the store is full (`overloaded`), or the journal cannot write or the store "
    "does not answer (`unavailable`): nothing was written; retry after Retry-After",
}
ERROR_HEADERS = {
    401: ("WWW-Authenticate",),
    405: ("Allow",),
    429: ("Retry-After",),
    503: ("Retry-After",),
}


def _ref(name: str, kind: str = "schemas") -> Json:
    return {"$ref": f"#/components/{kind}/{name}"}


def _ecma(tree: Any) -> Any:
    """`tree` with each pattern's Python `\\Z` anchor spelled as JSON Schema's `$`."""
    if isinstance(tree, dict):
        return {
            key: value.removesuffix("\\Z") + "$"
            if key == "pattern" and isinstance(value, str) and value.endswith("\\Z")
            else _ecma(value)
            for key, value in tree.items()
        }
    if isinstance(tree, list):
        return [_ecma(item) for item in tree]
    return tree


def _schema_of(type_: Any) -> Json:
    return dict(_ecma(msgspec.json.schema(type_)))


def _object(required: Sequence[str] = (), **properties: Json) -> Json:
    return {"type": "object", "properties": properties, "required": list(required)}


def _schemas(limits: IngestSettings) -> Json:
    types: list[Any] = [Event, Record, Accepted, BatchAccepted, Valid, Problem, ErrorEnvelope]
    types += [Stats, Episode, Delivery, Page[Record], Page[Episode], Page[Delivery]]
    _, components = msgspec.json.schema_components(
        types, ref_template="#/components/schemas/{name}"
    )
    schemas: Json = _ecma(components)
    event = schemas["Event"]["properties"]
    event["text"]["anyOf"][0]["maxLength"] = limits.max_text_chars
    event["timestamp"]["anyOf"][0]["format"] = "date-time"
    event["timestamp"]["description"] = "RFC 3339 with an offset, a real date; kept as given"
    event["metadata"]["description"] = (
        f"flat: string, number, boolean or null values; at most {MAX_METADATA_BYTES} bytes encoded"
    )
    schemas["ErrorBody"]["properties"]["code"]["enum"] = sorted(ERROR_CODES)
    schemas["Stats"]["properties"]["range"] = {"enum": list(RANGES)}
    schemas["Stats"]["properties"]["recent_deliveries"] = {
        "type": "array",
        "items": _ref("Delivery"),
        "maxItems": RECENT_DELIVERIES,
        "description": "the newest webhook deliveries, whatever the range, as GET /v1/alerts on "
        "the integrity port lists them",
    }
    schemas["Stats"]["required"] += ["range", "recent_deliveries"]
    schemas["EventBatch"] = {
        "type": "array",
        "items": _ref("Event"),
        "minItems": 1,
        "maxItems": limits.max_batch,
        "description": "An invalid item is rejected alone (listed in `rejected`); the valid ones "
        "are kept. Every item invalid: 422.",
    }
    schemas["EventOrBatch"] = {"oneOf": [_ref("Event"), _ref("EventBatch")]}
    schemas["Health"] = _object(
        ["status", "service", "version"],
        status={"const": "ok"},
        service={"const": "signals"},
        version={"type": "string"},
    )
    check = _object(["status"], status={"enum": ["ok", "degraded", "failed"]})
    schemas["Readiness"] = _object(
        ["status", "checks"],
        status={"enum": ["ready", "degraded", "unready"]},
        checks={"type": "object", "additionalProperties": check},
    )
    return schemas


def _error(status: int) -> Json:
    code = STATUS_CODES[status]
    details: Json = {"type": "array", "items": _ref("Problem") if status == 422 else {}}
    refined = _object(error=_object(code={"const": code}, details=details))
    return {
        "description": f"`{code}`: {ERRORS[status]}",
        "headers": _headers(*ERROR_HEADERS.get(status, ())),
        "content": {JSON: {"schema": {"allOf": [_ref("ErrorEnvelope"), refined]}}},
    }


def _headers(*names: str) -> Json:
    return {name: _ref(name, "headers") for name in ("X-Request-ID", *names)}


def _ok(description: str, schema: Json, media: str = JSON) -> Json:
    return {
        "description": description,
        "headers": _headers(),
        "content": {media: {"schema": schema}},
    }


HEADERS: Json = {
    "X-Request-ID": {
        "description": "the request's X-Request-ID if it is 1-128 chars of [A-Za-z0-9._:-], "
        "else a generated one",
        "required": True,
        "schema": _ecma({"type": "string", "pattern": ID_PATTERN}),
    },
    "Retry-After": {"required": True, "schema": {"type": "integer", "minimum": 1}},
    "WWW-Authenticate": {"required": True, "schema": {"const": "Bearer"}},
    "Allow": {"description": "the methods the path takes", "schema": {"type": "string"}},
}


def _query(name: str, schema: Json, description: str) -> Json:
    return {"name": name, "in": "query", "schema": schema, "description": description}


def _path(name: str, schema: Json) -> Json:
    return {"name": name, "in": "path", "required": True, "schema": schema}


# The pattern is what the service checks (RFC 3339 with an offset, ranges of every field); the
# format adds the calendar, so a generated client sends only instants the service accepts.
INSTANT = _ecma({"type": "string", "format": "date-time", "pattern": RFC3339})


def _cursor(kind: str) -> Json:
    schema = {"type": "string", "pattern": CURSOR_PATTERNS[kind], "maxLength": MAX_CURSOR_CHARS}
    return _query(
        "cursor",
        schema,
        "opaque: the `next_cursor` of the previous page of this listing, passed back as it came",
    )


PARAMETERS: Json = {
    "X-Request-ID": {
        "name": "X-Request-ID",
        "in": "header",
        "schema": {"type": "string"},
        "description": "kept if it is 1-128 chars of [A-Za-z0-9._:-], else replaced",
    },
    "user_id": _query("user_id", _schema_of(UserId), "exact user"),
    "signal_type": _query("signal_type", _schema_of(SignalType), "exact signal type"),
    "sentiment": _query("sentiment", {"enum": list(SENTIMENTS)}, "exact sentiment"),
    "since": _query(
        "since",
        INSTANT,
        "inclusive, RFC 3339 with an offset (events: received_at; episodes: opened_at)",
    ),
    "until": _query("until", INSTANT, "exclusive, on received_at, RFC 3339 with an offset"),
    "severity": _query("severity", {"enum": list(SEVERITIES)}, "exact severity"),
    "status": _query("status", {"enum": list(DELIVERY_STATUSES)}, "exact delivery status"),
    "range": _query("range", {"enum": list(RANGES), "default": "1h"}, "the time range"),
    "limit": _query(
        "limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}, "page size"
    ),
    "signals_cursor": _cursor("signals"),
    "anomalies_cursor": _cursor("anomalies"),
    "deliveries_cursor": _cursor("deliveries"),
    "path_user_id": _path("user_id", _schema_of(UserId)),
    "file": _path("file", {"type": "string", "minLength": 1}),
}
SIGNAL_FILTERS = ("user_id", "signal_type", "sentiment", "since", "until")
ANOMALY_FILTERS = ("severity", "signal_type", "since", "limit", "anomalies_cursor")


def _operation(
    summary: str,
    ok: dict[int, Json],
    errors: Sequence[int] = (),
    *,
    scope: str | None = None,
    params: Sequence[str] = (),
    body: Json | None = None,
) -> Json:
    """One operation; `scope` is what its key needs when auth is on (None: open to all)."""
    responses = {str(status): response for status, response in ok.items()}
    responses |= {str(s): _ref(STATUS_CODES[s], "responses") for s in sorted({*errors, 500})}
    operation: Json = {
        "summary": summary,
        "parameters": [_ref(name, "parameters") for name in (*params, "X-Request-ID")],
        "responses": responses,
        "security": [{"apiKey": [scope]}, {"bearer": [scope]}] if scope else [],
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": body}
    return operation


def _write(
    summary: str, ok: dict[int, Json], body: Json, errors: Sequence[int] = WRITE_ERRORS
) -> Json:
    return {"post": _operation(summary, ok, errors, scope="ingest", body=body)}


def _read(summary: str, ok: Json, params: Sequence[str]) -> Json:
    return {"get": _operation(summary, {200: ok}, READ_ERRORS, scope="read", params=params)}


def _accepted(schema: Json) -> dict[int, Json]:
    return {
        202: _ok("journaled (and fsynced, with journal.fsync = always)", schema),
        200: _ok("a duplicate of an earlier event_id: nothing written", _ref("Accepted")),
    }


def _probes() -> Json:
    ready = _ref("Readiness")
    metrics = _operation(
        "Prometheus metrics; a read key only with auth.protect_metrics",
        {200: _ok("the text exposition format", {"type": "string"}, "text/plain")},
        (401, 403, 429),
    )
    metrics["security"] = [{}, {"apiKey": ["read"]}, {"bearer": ["read"]}]
    document = {"type": "object", "required": ["openapi", "info", "paths"]}
    return {
        "/health": {"get": _operation("the event loop runs", {200: _ok("ok", _ref("Health"))})},
        "/ready": {
            "get": _operation(
                "whether this process can accept events, with each check",
                {200: _ok("ready or degraded", ready), 503: _ok("unready", ready)},
            )
        },
        "/metrics": {"get": metrics},
        "/openapi.json": {"get": _operation("this document", {200: _ok("OpenAPI 3.1", document)})},
    }


def _document(title: str, limits: IngestSettings, paths: Json) -> Json:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": __version__,
            "description": "Every response carries X-Request-ID; every error body is an "
            "ErrorEnvelope. An unknown path answers 404 `not_found` and an undocumented method "
            "405 `method_not_allowed` (401 first where auth is on and no key is given). With no "
            "API keys configured (loopback only) auth is off. A body over "
            f"{limits.max_body_bytes} bytes answers 413.",
        },
        "paths": {**paths, **_probes()},
        "components": {
            "schemas": _schemas(limits),
            "responses": {STATUS_CODES[status]: _error(status) for status in ERRORS},
            "headers": HEADERS,
            "parameters": PARAMETERS,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


@functools.cache
def ingest_openapi(limits: IngestSettings | None = None) -> Json:
    one = {JSON: {"schema": _ref("Event")}}
    batch = {
        JSON: {"schema": _ref("EventBatch")},
        NDJSON: {"schema": _ref("EventBatch")},  # one item per line
    }
    log = _write("log one event", _accepted(_ref("Accepted")), one)
    records = {"type": "array", "items": _ref("Record")}
    paths = {
        "/v1/log": log,
        "/log": {"post": {**log["post"], "summary": "alias of /v1/log"}},
        "/v1/log/batch": _write(
            "log a batch: a JSON array, or NDJSON",
            {202: _ok("the valid items journaled", _ref("BatchAccepted"))},
            batch,
        ),
        "/v1/signals": _read(
            "stored events, newest first",
            _ok("a page", _ref("Page_Record_")),
            (*SIGNAL_FILTERS, "limit", "signals_cursor"),
        ),
        "/v1/signals/export": _read(
            "stored events, oldest first",
            _ok("one record per line", records, NDJSON),
            SIGNAL_FILTERS,
        ),
        "/v1/stats": _read("what the dashboard draws", _ok("stats", _ref("Stats")), ("range",)),
        "/": {
            "get": _operation("the dashboard", {200: _ok("HTML", {"type": "string"}, "text/html")})
        },
        "/static/{file}": {
            "get": _operation(
                "the dashboard's scripts, styles and images",
                {200: _ok("the file", {}, "*/*")},
                (404,),
                params=("file",),
            )
        },
    }
    return _document("signals ingest", limits or IngestSettings(), paths)


@functools.cache
def integrity_openapi(limits: IngestSettings | None = None) -> Json:
    one_or_many = {JSON: {"schema": _ref("EventOrBatch")}}
    either = {"oneOf": [_ref("Accepted"), _ref("BatchAccepted")]}
    episodes = _ok("a page, newest first", _ref("Page_Episode_"))
    paths = {
        "/v1/events": _write("one event, or a JSON array of them", _accepted(either), one_or_many),
        "/v1/validate": _write(
            "validate only; nothing is kept",
            {200: _ok("every event is valid", _ref("Valid"))},
            one_or_many,
            [status for status in WRITE_ERRORS if status != 503],
        ),
        "/v1/anomalies": _read("anomaly episodes", episodes, ANOMALY_FILTERS),
        "/v1/anomalies/{user_id}": _read(
            "one user's episodes (none: an empty page)",
            episodes,
            ("path_user_id", *ANOMALY_FILTERS),
        ),
        "/v1/alerts": _read(
            "webhook deliveries with their attempts",
            _ok("a page, newest first", _ref("Page_Delivery_")),
            ("status", "limit", "deliveries_cursor"),
        ),
    }
    return _document("signals integrity", limits or IngestSettings(), paths)
