"""OpenAPI 3.1 documents for both ports, built from the same msgspec types that validate requests.

Schemas come from `msgspec.json.schema_components`, so the document cannot drift from the
validation: a constraint added to `Event` appears here too. The few rules that live in settings
(`ingest.max_text_chars`, `ingest.max_batch`, `ingest.max_body_bytes`) are filled in from the
`IngestSettings` given (the defaults when none is). Every operation lists each status it can
answer with, the error envelope per code, and the headers every response carries
(`X-Request-ID`) or some do (`Retry-After`, `WWW-Authenticate`). An unknown path answers 404 and
an undocumented method 405, both with the envelope (`components.responses`).

Python's `re` (which msgspec uses) lets `$` match before a final newline, so the validation
patterns end in `\\Z`; JSON Schema's regex dialect has no `\\Z` and its `$` already means the end,
so the published patterns end in `$`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import msgspec

from signals import __version__
from signals.alerts.delivery import Delivery
from signals.anomaly.episode import Episode
from signals.events import ID_PATTERN, Event, Problem, Record, SignalType, UserId
from signals.http import STATUS_CODES, ErrorEnvelope
from signals.intake import Accepted, BatchAccepted, Valid
from signals.settings import IngestSettings
from signals.store.base import Page, Stats

JSON = "application/json"
NDJSON = "application/x-ndjson"
SCHEMA_REF = "#/components/schemas/{name}"
Json = dict[str, Any]


def _ref(name: str, kind: str = "schemas") -> Json:
    return {"$ref": f"#/components/{kind}/{name}"}


def _ecma(tree: Any) -> Any:
    """The tree with every Python-only `\\Z` pattern anchor rewritten as JSON Schema's `$`."""
    if isinstance(tree, dict):
        return {
            key: value[:-2] + "$"
            if key == "pattern" and isinstance(value, str) and value.endswith("\\Z")
            else _ecma(value)
            for key, value in tree.items()
        }
    if isinstance(tree, list):
        return [_ecma(item) for item in tree]
    return tree


def _schema_of(type_: Any) -> Json:
    schema: Json = _ecma(msgspec.json.schema(type_))
    return schema


def _schemas(limits: IngestSettings) -> Json:
    types: list[Any] = [Event, Record, Accepted, BatchAccepted, Valid, Problem, ErrorEnvelope]
    types += [Stats, Episode, Delivery, Page[Record], Page[Episode], Page[Delivery]]
    _, components = msgspec.json.schema_components(types, ref_template=SCHEMA_REF)
    schemas: Json = _ecma(components)
    text = schemas["Event"]["properties"]["text"]["anyOf"][0]
    text["maxLength"] = limits.max_text_chars
    schemas["Event"]["properties"]["metadata"]["description"] = (
        "flat: string, number, boolean or null values; at most 32 keys and 4096 bytes encoded"
    )
    schemas["Event"]["properties"]["timestamp"]["description"] = (
        "RFC 3339 with an offset, a real calendar date and time; kept as given"
    )
    schemas["ErrorBody"]["properties"]["code"]["enum"] = sorted(set(STATUS_CODES.values()))
    schemas["Stats"]["properties"]["range"] = {"enum": list(RANGES)}
    schemas["Stats"]["required"].append("range")
    schemas["EventBatch"] = {
        "type": "array",
        "items": _ref("Event"),
        "minItems": 1,
        "maxItems": limits.max_batch,
        "description": "Invalid items are rejected one by one; the valid ones are kept.",
    }
    schemas["EventOrBatch"] = {"oneOf": [_ref("Event"), _ref("EventBatch")]}
    schemas["Health"] = {
        "type": "object",
        "properties": {
            "status": {"const": "ok"},
            "service": {"const": "signals"},
            "version": {"type": "string"},
        },
        "required": ["status", "service", "version"],
    }
    check = {
        "type": "object",
        "properties": {
            "status": {"enum": ["ok", "degraded", "failed"]},
            "error": {"type": "string"},
        },
        "required": ["status"],
    }
    schemas["Readiness"] = {
        "type": "object",
        "properties": {
            "status": {"enum": ["ready", "degraded", "unready"]},
            "checks": {"type": "object", "additionalProperties": check},
        },
        "required": ["status", "checks"],
    }
    return schemas


RANGES = ("15m", "1h", "24h", "7d")

HEADERS: Json = {
    "X-Request-ID": {
        "description": "the client's X-Request-ID when it is 1-128 chars of [A-Za-z0-9._:-], "
        "else a generated one",
        "required": True,
        "schema": _ecma({"type": "string", "pattern": ID_PATTERN}),
    },
    "Retry-After": {
        "description": "seconds to wait before retrying",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    },
    "WWW-Authenticate": {"required": True, "schema": {"const": "Bearer"}},
    "Allow": {"description": "the methods the path accepts", "schema": {"type": "string"}},
}
EXTRA_HEADERS = {401: ["WWW-Authenticate"], 405: ["Allow"], 429: ["Retry-After"]}
EXTRA_HEADERS[503] = ["Retry-After"]
ERROR_TEXT = {
    400: "the body is not JSON; the message says where it broke",
    401: "no API key, or an unknown one",
    403: "the API key lacks the scope this operation needs",
    404: "no such resource",
    405: "the path does not accept this method",
    413: "the body passes ingest.max_body_bytes, or a batch passes ingest.max_batch",
    415: "the Content-Type is not one the operation accepts",
    422: "the request breaks a rule; each detail names the field (`loc`) and the rule (`msg`)",
    429: "too many failed authentications from this address, or the key is over its rate",
    500: "an unexpected error, logged with its traceback (never in the body)",
    503: "the queue to the store is full; retry after Retry-After seconds",
}


def _headers(*names: str) -> Json:
    return {name: _ref(name, "headers") for name in ("X-Request-ID", *names)}


def _error_response(status: int) -> Json:
    code = STATUS_CODES[status]
    details: Json = {"type": "array"}
    if status == 422:
        details["items"] = _ref("Problem")
    error = {"properties": {"code": {"const": code}, "details": details}}
    schema = {"allOf": [_ref("ErrorEnvelope"), {"properties": {"error": error}}]}
    return {
        "description": f"`{code}`: {ERROR_TEXT[status]}",
        "headers": _headers(*EXTRA_HEADERS.get(status, [])),
        "content": {JSON: {"schema": schema}},
    }


def _ok(description: str, media: str, schema: Json) -> Json:
    return {
        "description": description,
        "headers": _headers(),
        "content": {media: {"schema": schema}},
    }


def _query(name: str, schema: Json, description: str) -> Json:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


PARAMETERS: Json = {
    "X-Request-ID": {
        "name": "X-Request-ID",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "echoed when it is 1-128 chars of [A-Za-z0-9._:-], else replaced",
    },
    "user_id": _query("user_id", _schema_of(UserId), "exact user"),
    "signal_type": _query("signal_type", _schema_of(SignalType), "exact signal type"),
    "sentiment": _query(
        "sentiment", {"enum": ["stressed", "uncertain", "positive", "neutral"]}, "exact sentiment"
    ),
    "since": _query(
        "since",
        {"type": "string", "format": "date-time"},
        "inclusive lower bound (RFC 3339 with offset)",
    ),
    "until": _query(
        "until",
        {"type": "string", "format": "date-time"},
        "exclusive upper bound on received_at (RFC 3339 with offset)",
    ),
    "severity": _query("severity", {"enum": ["warning", "critical"]}, "exact severity"),
    "status": _query("status", {"enum": ["pending", "delivered", "failed"]}, "exact status"),
    "range": _query("range", {"enum": list(RANGES), "default": "1h"}, "time range"),
    "limit": _query(
        "limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}, "page size"
    ),
    "cursor": _query(
        "cursor",
        {"type": "string", "minLength": 1, "maxLength": 512, "pattern": "^[A-Za-z0-9_-]+$"},
        "the next_cursor of the previous page (opaque; one listing's cursor fails on another)",
    ),
    "user_id_path": {
        "name": "user_id",
        "in": "path",
        "required": True,
        "schema": _schema_of(UserId),
    },
    "static_path": {
        "name": "path",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
    },
}
SIGNAL_FILTERS = ["user_id", "signal_type", "sentiment", "since", "until"]
ANOMALY_FILTERS = ["severity", "signal_type", "since", "limit", "cursor"]
WRITE_ERRORS = [400, 401, 403, 413, 415, 422, 429, 503]
READ_ERRORS = [401, 403, 422, 429]


def _security(scope: str | None, *, optional: bool = False) -> list[Json]:
    if scope is None:
        return []
    schemes: list[Json] = [{"apiKey": [scope]}, {"bearer": [scope]}]
    return [{}, *schemes] if optional else schemes


def _operation(
    summary: str,
    ok: dict[int, Json],
    errors: list[int],
    *,
    scope: str | None = None,
    params: Sequence[str] = (),
    body: Json | None = None,
    optional_auth: bool = False,
) -> Json:
    responses = {str(status): response for status, response in ok.items()}
    responses.update({str(s): _ref(STATUS_CODES[s], "responses") for s in sorted([*errors, 500])})
    operation: Json = {
        "summary": summary,
        "parameters": [_ref(name, "parameters") for name in [*params, "X-Request-ID"]],
        "responses": responses,
        "security": _security(scope, optional=optional_auth),
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": body}
    return operation


def _common() -> Json:
    text = {"type": "string"}
    return {
        "/health": {
            "get": _operation("the event loop runs", {200: _ok("alive", JSON, _ref("Health"))}, [])
        },
        "/ready": {
            "get": _operation(
                "ready, degraded or unready, with each check",
                {
                    200: _ok("ready or degraded", JSON, _ref("Readiness")),
                    503: _ok("unready: a check failed", JSON, _ref("Readiness")),
                },
                [],
            )
        },
        "/metrics": {
            "get": _operation(
                "Prometheus metrics (needs a read key only with auth.protect_metrics)",
                {200: _ok("the text exposition format", "text/plain", text)},
                [401, 403, 429],
                scope="read",
                optional_auth=True,
            )
        },
        "/openapi.json": {
            "get": _operation(
                "this document",
                {
                    200: _ok(
                        "OpenAPI 3.1", JSON, {"type": "object", "required": ["openapi", "paths"]}
                    )
                },
                [],
            )
        },
    }


def _document(title: str, limits: IngestSettings, paths: Json) -> Json:
    errors = {STATUS_CODES[status]: _error_response(status) for status in ERROR_TEXT}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": __version__,
            "description": "Every response carries X-Request-ID. Every error body is the "
            "ErrorEnvelope. An unknown path answers 404 `not_found`, an undocumented method 405 "
            "`method_not_allowed`. With no API keys configured (allowed on loopback only) auth "
            f"is off. Bodies are limited to {limits.max_body_bytes} bytes (413).",
        },
        "paths": {**paths, **_common()},
        "components": {
            "schemas": _schemas(limits),
            "responses": errors,
            "headers": HEADERS,
            "parameters": PARAMETERS,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def _accepted(schema: Json) -> dict[int, Json]:
    return {
        202: _ok("journaled (and fsynced with journal.fsync = always)", JSON, schema),
        200: _ok("an event_id seen before: nothing written", JSON, _ref("Accepted")),
    }


@functools.cache
def ingest_openapi(limits: IngestSettings | None = None) -> Json:
    limits = limits or IngestSettings()
    event = {JSON: {"schema": _ref("Event")}}
    batch = {
        JSON: {"schema": _ref("EventBatch")},
        NDJSON: {"schema": _ref("EventBatch"), "description": "one event per line"},
    }
    log = _operation(
        "log one event", _accepted(_ref("Accepted")), WRITE_ERRORS, scope="ingest", body=event
    )
    page = _ok("a page, newest first", JSON, _ref("Page_Record_"))
    export = _ok(
        "one record per line, oldest first", NDJSON, {"type": "array", "items": _ref("Record")}
    )
    html = _ok("the dashboard", "text/html", {"type": "string"})
    asset = _ok("a file of the dashboard", "*/*", {})
    paths = {
        "/v1/log": {"post": log},
        "/log": {"post": {**log, "summary": "alias of /v1/log"}},
        "/v1/log/batch": {
            "post": _operation(
                "log a batch: a JSON array or NDJSON",
                {202: _ok("the valid items journaled", JSON, _ref("BatchAccepted"))},
                WRITE_ERRORS,
                scope="ingest",
                body=batch,
            )
        },
        "/v1/signals": {
            "get": _operation(
                "stored events",
                {200: page},
                READ_ERRORS,
                scope="read",
                params=[*SIGNAL_FILTERS, "limit", "cursor"],
            )
        },
        "/v1/signals/export": {
            "get": _operation(
                "stored events as NDJSON",
                {200: export},
                READ_ERRORS,
                scope="read",
                params=SIGNAL_FILTERS,
            )
        },
        "/v1/stats": {
            "get": _operation(
                "what the dashboard draws",
                {200: _ok("statistics", JSON, _ref("Stats"))},
                READ_ERRORS,
                scope="read",
                params=["range"],
            )
        },
        "/": {"get": _operation("the dashboard", {200: html}, [])},
        "/static/{path}": {
            "get": _operation("the dashboard's files", {200: asset}, [404], params=["static_path"])
        },
    }
    return _document("signals ingest", limits, paths)


@functools.cache
def integrity_openapi(limits: IngestSettings | None = None) -> Json:
    limits = limits or IngestSettings()
    events = {JSON: {"schema": _ref("EventOrBatch")}}
    batch_or_one = {"oneOf": [_ref("Accepted"), _ref("BatchAccepted")]}
    episodes = _ok("a page, newest first", JSON, _ref("Page_Episode_"))
    paths = {
        "/v1/events": {
            "post": _operation(
                "one event or an array of events",
                _accepted(batch_or_one),
                WRITE_ERRORS,
                scope="ingest",
                body=events,
            )
        },
        "/v1/validate": {
            "post": _operation(
                "validate only",
                {200: _ok("valid", JSON, _ref("Valid"))},
                [e for e in WRITE_ERRORS if e != 503],
                scope="ingest",
                body=events,
            )
        },
        "/v1/anomalies": {
            "get": _operation(
                "anomaly episodes",
                {200: episodes},
                READ_ERRORS,
                scope="read",
                params=ANOMALY_FILTERS,
            )
        },
        "/v1/anomalies/{user_id}": {
            "get": _operation(
                "one user's episodes (none: an empty page)",
                {200: episodes},
                READ_ERRORS,
                scope="read",
                params=["user_id_path", *ANOMALY_FILTERS],
            )
        },
        "/v1/alerts": {
            "get": _operation(
                "webhook deliveries with their attempts",
                {200: _ok("a page, newest first", JSON, _ref("Page_Delivery_"))},
                READ_ERRORS,
                scope="read",
                params=["status", "limit", "cursor"],
            )
        },
    }
    return _document("signals integrity", limits, paths)
