"""Schemathesis against both ports of a real `signals serve`, generated from the documents
`/openapi.json` serves (test_document checks they are the same).

One subprocess with an admin key serves both ports. Every generated request carries the key (the
`auth` for the documented schemes); `ignored_auth` also sends each one without it and expects a
refusal where the document asks for a key. Checks: no 5xx, every status documented, the
documented media type, bodies and headers matching their schemas, requests the document calls
invalid refused with a 4xx, and requests it calls valid accepted. Fuzzing phase on every
operation, plus the coverage phase (boundary values of every constraint) where requests write
nothing: `/v1/validate` (the event rules) and the listings (the query rules). Bounded and
derandomized: a CI run is the same every time. `signals`'s README says how to run the same
checks from the command line with more examples.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from tests.support.service import ServiceProcess

from signals.auth.keys import keygen
from signals.openapi import ingest_openapi, integrity_openapi

pytestmark = pytest.mark.slow

KEY, STANZA = keygen("fuzz", ["admin"])
MAX_EXAMPLES = 20
CHECKS = {
    "not_a_server_error": {},
    "status_code_conformance": {},
    "content_type_conformance": {},
    "response_schema_conformance": {},
    "response_headers_conformance": {},
    # 413 is the contract's answer to a batch over ingest.max_batch (the document's maxItems)
    "negative_data_rejection": {
        "expected-statuses": ["400", "401", "403", "404", "405", "413", "415", "422", "429"]
    },
    # A request the document calls valid is not refused: a cursor, an instant or a timestamp
    # that matches its published pattern and format is one the service reads.
    "positive_data_acceptance": {},
    "ignored_auth": {},
}
OPERATIONS = [
    # A batch keeps its valid items and lists the invalid ones (202): an array with a bad item
    # is no bad request there. /v1/log and /v1/validate refuse the same items.
    {
        "include-path": ["/v1/log/batch", "/v1/events"],
        "checks": {"negative_data_rejection": {"enabled": False}},
    },
    # The coverage phase (each constraint's boundary values) where requests write nothing: the
    # event rules, and the query rules (instants, limit, cursor) of every listing.
    {
        "include-path": ["/v1/validate", "/v1/signals", "/v1/anomalies", "/v1/alerts"],
        "phases": {"coverage": {"enabled": True}},
    },
]


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx: Any, value: Any) -> bytes:
    """The batch body as NDJSON: one JSON document per line (a non-array is one line)."""
    items = value if isinstance(value, list) else [value]
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


@schemathesis.deserializer("application/x-ndjson")
def read_ndjson(ctx: Any, response: Any) -> list[Any]:
    return [json.loads(line) for line in response.content.splitlines() if line.strip()]


def config() -> Any:
    return schemathesis.Config.from_dict(
        {
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
            "phases": {
                "examples": {"enabled": False},
                "coverage": {"enabled": False},
                "stateful": {"enabled": False},
            },
            "checks": {
                "enabled": False,
                **{name: {"enabled": True, **c} for name, c in CHECKS.items()},
            },
            "auth": {"openapi": {"apiKey": {"api_key": KEY}}},
            "operations": OPERATIONS,
            "request-timeout": 10,  # a hang fails the test instead of stalling the suite
            "suppress-health-check": ["too_slow"],  # a loaded CI machine is no defect
        }
    )


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    workdir: Path = tmp_path_factory.mktemp("fuzz")
    # `ignored_auth` fails on purpose, far more often than the limiter's default allows
    process = ServiceProcess(workdir, {"auth": {"max_failures": 1_000_000}})
    with process.config.open("a") as settings:
        settings.write("\n" + STANZA + "\n")
    with process:
        yield process
        assert process.stop() == 0, process.logs()
    assert "unhandled error" not in process.logs()


ingest = schemathesis.openapi.from_dict(ingest_openapi(), config=config())
integrity = schemathesis.openapi.from_dict(integrity_openapi(), config=config())


@ingest.parametrize()
def test_ingest_port(case: Any, service: ServiceProcess) -> None:
    case.call_and_validate(base_url=service.ingest)


@integrity.parametrize()
def test_integrity_port(case: Any, service: ServiceProcess) -> None:
    case.call_and_validate(base_url=service.integrity)
