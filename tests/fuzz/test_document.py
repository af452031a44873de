"""The OpenAPI documents themselves: valid OpenAPI 3.1, served as built, covering every route of
their app and no other, and declaring what every operation of that kind can answer."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema_rs
import pytest
from schemathesis.specs.openapi.definitions import OPENAPI_31
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from tests.conftest import Live

from signals.openapi import ingest_openapi, integrity_openapi
from signals.settings import IngestSettings

DOCUMENTS = {"ingest": ingest_openapi, "integrity": integrity_openapi}
METHODS = ("get", "post")


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, item[method])
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    ]


def routed(app: Starlette) -> set[tuple[str, str]]:
    """(method, path template) of every route, as the document spells them."""
    found = set()
    for route in app.routes:
        if isinstance(route, Mount):  # the static files: one file per path segment
            found.add(("get", route.path + "/{file}"))
        elif isinstance(route, Route):
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            found |= {(m.lower(), path) for m in route.methods or () if m != "HEAD"}
    return found


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_documents_are_valid_openapi_3_1(name: str) -> None:
    document = json.loads(json.dumps(DOCUMENTS[name]()))
    errors = [str(e) for e in jsonschema_rs.validator_for(OPENAPI_31).iter_errors(document)]
    assert errors == []
    assert "\\Z" not in json.dumps(document)  # JSON Schema's regex dialect has no \Z


async def test_each_port_serves_its_document_and_documents_every_route(live: Live) -> None:
    for client, app, build in (
        (live.ingest, live.services.ingest_app, ingest_openapi),
        (live.integrity, live.services.integrity_app, integrity_openapi),
    ):
        served = (await client.get("/openapi.json")).json()
        assert served == json.loads(json.dumps(build()))
        documented = {(method, path) for method, path, _ in operations(served)}
        assert documented == routed(app)


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_every_operation_declares_what_it_can_answer(name: str) -> None:
    document = DOCUMENTS[name]()
    headers = {"X-Request-ID"}
    for _, path, operation in operations(document):
        statuses = set(operation["responses"])
        assert "500" in statuses, path
        if any(operation["security"]):
            assert {"401", "403", "429"} <= statuses, path
        params = [component(document, p) for p in operation["parameters"]]
        if any(param["in"] == "query" for param in params):
            assert "422" in statuses, path
        if "requestBody" in operation:
            assert {"400", "413", "415", "422"} <= statuses, path
        for response in operation["responses"].values():
            assert headers <= set(component(document, response)["headers"]), (path, response)


def component(document: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """`item`, or the component its `$ref` names."""
    if "$ref" not in item:
        return item
    _, _, kind, name = item["$ref"].split("/")
    found: dict[str, Any] = document["components"][kind][name]
    return found


def test_limits_from_settings_reach_the_document() -> None:
    limits = IngestSettings(max_text_chars=100, max_batch=7, max_body_bytes=4096)
    for build in DOCUMENTS.values():
        schemas = build(limits)["components"]["schemas"]
        assert schemas["Event"]["properties"]["text"]["anyOf"][0]["maxLength"] == 100
        assert schemas["EventBatch"]["maxItems"] == 7
        assert "4096 bytes" in build(limits)["info"]["description"]
