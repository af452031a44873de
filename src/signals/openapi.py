"""OpenAPI 3.1 documents for both ports, built from the same msgspec types that validate requests.

Schemas come from `msgspec.json.schema_components`, so the document cannot drift from the
validation: a constraint added to `Event` appears here too. Paths are declared in one table.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from signals import __version__
from signals.alerts.delivery import Delivery
from signals.anomaly.episode import Episode
from signals.events import Event, Problem, Record
from signals.http import STATUS_CODES, ErrorEnvelope
from signals.intake import Accepted, BatchAccepted, Valid
from signals.store.base import Page, Stats

REF = "#/components/schemas/{name}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(name=name)}


def _components() -> dict[str, Any]:
    types: list[Any] = [
        Event,
        Record,
        Accepted,
        BatchAccepted,
        Valid,
        Problem,
        ErrorEnvelope,
        Stats,
        Episode,
        Delivery,
        Page[Record],
        Page[Episode],
        Page[Delivery],
    ]
    _, components = msgspec.json.schema_components(types, ref_template=REF)
    components["EventBatch"] = {"type": "array", "items": _ref("Event"), "minItems": 1}
    components["EventOrBatch"] = {"oneOf": [_ref("Event"), _ref("EventBatch")]}
    return components


def _error(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": STATUS_CODES[status],
        "content": {"application/json": {"schema": _ref("ErrorEnvelope")}},
    }
    if status in (429, 503):
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return response


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


INSTANT = {"type": "string", "format": "date-time"}
LIMIT = _query(
    "limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}, "page size"
)
CURSOR = _query("cursor", {"type": "string"}, "next_cursor of the previous page")
SIGNAL_FILTERS = [
    _query("user_id", {"type": "string", "minLength": 1, "maxLength": 128}, "exact user"),
    _query(
        "signal_type",
        {"type": "string", "pattern": "^[a-z][a-z0-9_.-]{0,63}$"},
        "exact signal type",
    ),
    _query(
        "sentiment", {"enum": ["stressed", "uncertain", "positive", "neutral"]}, "exact sentiment"
    ),
    _query("since", INSTANT, "received_at >= since (RFC 3339)"),
    _query("until", INSTANT, "received_at < until (RFC 3339)"),
]
ANOMALY_FILTERS = [
    _query("severity", {"enum": ["warning", "critical"]}, "exact severity"),
    _query(
        "signal_type",
        {"type": "string", "pattern": "^[a-z][a-z0-9_.-]{0,63}$"},
        "exact signal type",
    ),
    _query("since", INSTANT, "opened_at >= since (RFC 3339)"),
    LIMIT,
    CURSOR,
]


def _post(summary: str, body: dict[str, Any], ok: dict[int, Any], errors: list[int]) -> Any:
    responses = {str(code): response for code, response in ok.items()}
    responses.update({str(code): _error(code) for code in [*errors, 500]})
    return {
        "post": {
            "summary": summary,
            "requestBody": {"required": True, "content": body},
            "responses": responses,
        }
    }


def _get(summary: str, params: list[dict[str, Any]], ok: dict[str, Any], errors: list[int]) -> Any:
    responses = {"200": ok}
    responses.update({str(code): _error(code) for code in [*errors, 500]})
    return {"get": {"summary": summary, "parameters": params, "responses": responses}}


POST_ERRORS = [400, 401, 403, 413, 415, 422, 429, 503]
READ_ERRORS = [401, 403, 422, 429]
JSON_EVENT = {"application/json": {"schema": _ref("Event")}}


def _common() -> dict[str, Any]:
    return {
        "/health": _get("the event loop runs", [], {"description": "ok"}, []),
        "/ready": {
            "get": {
                "summary": "ready, degraded or unready, with each check",
                "responses": {
                    "200": {"description": "ready or degraded"},
                    "503": {"description": "unready"},
                },
            }
        },
        "/metrics": _get(
            "Prometheus metrics",
            [],
            {
                "description": "text exposition",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            [401, 403],
        ),
        "/openapi.json": _get("this document", [], {"description": "OpenAPI 3.1"}, []),
    }


def _document(title: str, paths: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": __version__},
        "paths": {**paths, **_common()},
        "components": {
            "schemas": _components(),
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
        "security": [{}, {"apiKey": []}, {"bearer": []}],
    }


@functools.cache
def ingest_openapi() -> dict[str, Any]:
    accepted = {
        202: _json("Accepted", "journaled and fsynced"),
        200: _json("Accepted", "a duplicate of an earlier event_id"),
    }
    batch_body = {
        "application/json": {"schema": _ref("EventBatch")},
        "application/x-ndjson": {"schema": {"type": "string"}},
    }
    paths = {
        "/v1/log": _post("log one event", JSON_EVENT, accepted, POST_ERRORS),
        "/log": _post("alias of /v1/log", JSON_EVENT, accepted, POST_ERRORS),
        "/v1/log/batch": _post(
            "log a batch (JSON array or NDJSON)",
            batch_body,
            {202: _json("BatchAccepted", "valid items kept")},
            POST_ERRORS,
        ),
        "/v1/signals": _get(
            "stored events, newest first",
            [*SIGNAL_FILTERS, LIMIT, CURSOR],
            _json("Page_Record_", "a page"),
            READ_ERRORS,
        ),
        "/v1/signals/export": _get(
            "stored events as NDJSON, oldest first",
            SIGNAL_FILTERS,
            {
                "description": "NDJSON stream",
                "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
            },
            READ_ERRORS,
        ),
        "/v1/stats": _get(
            "what the dashboard draws",
            [_query("range", {"enum": ["15m", "1h", "24h", "7d"], "default": "1h"}, "time range")],
            _json("Stats", "statistics"),
            READ_ERRORS,
        ),
        "/": _get(
            "the dashboard",
            [],
            {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}},
            [],
        ),
    }
    return _document("signals ingest", paths)


@functools.cache
def integrity_openapi() -> dict[str, Any]:
    events_body = {"application/json": {"schema": _ref("EventOrBatch")}}
    user = {
        "name": "user_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 128},
    }
    paths = {
        "/v1/events": _post(
            "one event or an array of events",
            events_body,
            {
                202: {
                    "description": "accepted",
                    "content": {
                        "application/json": {
                            "schema": {"oneOf": [_ref("Accepted"), _ref("BatchAccepted")]}
                        }
                    },
                },
                200: _json("Accepted", "a duplicate"),
            },
            POST_ERRORS,
        ),
        "/v1/validate": _post(
            "validate only", events_body, {200: _json("Valid", "valid")}, POST_ERRORS
        ),
        "/v1/anomalies": _get(
            "anomaly episodes, newest first",
            ANOMALY_FILTERS,
            _json("Page_Episode_", "a page"),
            READ_ERRORS,
        ),
        "/v1/anomalies/{user_id}": _get(
            "one user's episodes",
            [user, *ANOMALY_FILTERS],
            _json("Page_Episode_", "a page"),
            READ_ERRORS,
        ),
        "/v1/alerts": _get(
            "webhook deliveries",
            [
                _query("status", {"enum": ["pending", "delivered", "failed"]}, "exact status"),
                LIMIT,
                CURSOR,
            ],
            _json("Page_Delivery_", "a page"),
            READ_ERRORS,
        ),
    }
    return _document("signals integrity", paths)
