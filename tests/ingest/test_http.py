"""The ingest and integrity ports over real HTTP: statuses, envelopes, durability of each 2xx."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gzip
import json
import os
import socket
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from tests.conftest import Live

from signals.events import record_decoder
from signals.journal import Journal
from signals.store.base import SignalQuery

EVENT = {"user_id": "u-1", "signal_type": "chat", "text": "thanks, that fixed it!"}
ENVELOPE_KEYS = {"error", "request_id"}


def local_journal(live: Live) -> Journal:
    assert live.services.local is not None
    return live.services.local


def journal_lines(live: Live) -> list[bytes]:
    lines: list[bytes] = []
    for path in sorted(local_journal(live).directory.glob("segment-*")):
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        lines += data.splitlines()
    return lines


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ENVELOPE_KEYS
    assert body["error"]["code"] == code
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return dict(body["error"])


async def test_log_one_event(live: Live) -> None:
    response = await live.ingest.post("/v1/log", json=EVENT, headers={"X-Request-ID": "req-1"})
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"event_id", "sentiment", "sentiment_cues", "received_at", "duplicate"}
    assert body["sentiment"] == "positive" and body["duplicate"] is False
    assert response.headers["x-request-id"] == "req-1"
    # A 2xx means journaled: the line is there before the store has it.
    (line,) = journal_lines(live)
    record = record_decoder.decode(line)
    assert record.event_id == body["event_id"] and record.request_id == "req-1"
    await live.settle()
    page = await live.services.store.signals(SignalQuery())
    assert [r.event_id for r in page.items] == [body["event_id"]]


async def test_alias_and_request_id_rules(live: Live) -> None:
    response = await live.ingest.post("/log", json=EVENT, headers={"X-Request-ID": "bad id!"})
    assert response.status_code == 202
    generated = response.headers["x-request-id"]
    assert generated != "bad id!" and len(generated) >= 16
    long_id = "a" * 129
    response = await live.ingest.get("/health", headers={"X-Request-ID": long_id})
    assert response.headers["x-request-id"] != long_id


async def test_duplicates_are_answered_not_rewritten(live: Live) -> None:
    event = {**EVENT, "event_id": "evt-42"}
    responses = await asyncio.gather(*(live.ingest.post("/v1/log", json=event) for _ in range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 19 + [202]
    first = next(r.json() for r in responses if r.status_code == 202)
    for response in responses:
        body = response.json()
        assert body["event_id"] == "evt-42"
        assert body["received_at"] == first["received_at"]
        assert body["duplicate"] is (response.status_code == 200)
    assert len(journal_lines(live)) == 1
    await live.settle()
    assert len((await live.services.store.signals(SignalQuery())).items) == 1


async def test_concurrent_requests_never_interleave_lines(live: Live) -> None:
    events = [{**EVENT, "user_id": f"user-{i}", "text": "x" * (i * 37 % 3000)} for i in range(120)]
    responses = await asyncio.gather(*(live.ingest.post("/v1/log", json=e) for e in events))
    assert {r.status_code for r in responses} == {202}
    lines = journal_lines(live)
    assert len(lines) == 120
    assert {record_decoder.decode(line).user_id for line in lines} == {e["user_id"] for e in events}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [(b"{", "malformed JSON"), (b'{"user_id": "u"', "malformed JSON"), (b"nope", "malformed")],
)
async def test_malformed_json_is_400_and_says_where(live: Live, body: bytes, fragment: str
                                                    ) -> None:  # fmt: skip
    response = await live.ingest.post(
        "/v1/log", content=body, headers={"content-type": "application/json"}
    )
    error = assert_envelope(response, 400, "malformed_json")
    assert fragment in str(error["message"])
    assert "byte" in str(error["message"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"user_id": "u\xff", "signal_type": "chat"}', "Invalid UTF-8 encoded string (byte 14)"),
        (b'{"user_id": "u", "metadata": {"n": 1e400}}', "Number out of range (byte 35)"),
        (b'{"metadata": {"a": "1e400", "n": -' + b"9" * 5000 + b"}}",
         "Integer value out of range (byte 33)"),
        (b'{"metadata": {"a": "[[", "b": ' + b"[" * 2000 + b"]" * 2000 + b"}}",
         "JSON nests too deeply (2002 levels at byte 2029)"),
    ],
)  # fmt: skip
async def test_malformed_json_says_where_the_decoder_does_not(
    live: Live, body: bytes, message: str
) -> None:
    for client, path in ((live.ingest, "/v1/log"), (live.integrity, "/v1/validate")):
        response = await client.post(
            path, content=body, headers={"content-type": "application/json"}
        )
        error = assert_envelope(response, 400, "malformed_json")
        assert error["message"] == f"malformed JSON: {message}"


async def test_an_empty_body_is_malformed_json_and_says_so(live: Live) -> None:
    response = await live.ingest.post("/v1/log", headers={"content-type": "application/json"})
    error = assert_envelope(response, 400, "malformed_json")
    assert error["message"] == "malformed JSON: empty body"


async def test_validation_details_name_the_field(live: Live) -> None:
    response = await live.ingest.post("/v1/log", json={"user_id": "", "signal_type": "chat"})
    error = assert_envelope(response, 422, "validation_failed")
    assert error["details"] == [
        {"loc": ["body", "user_id"], "msg": "Expected `str` of length >= 1"}
    ]
    response = await live.ingest.post("/v1/log", json={**EVENT, "surprise": 1})
    error = assert_envelope(response, 422, "validation_failed")
    assert error["details"] == [{"loc": ["body", "surprise"], "msg": "unknown field 'surprise'"}]


async def test_media_type_is_required(live: Live) -> None:
    response = await live.ingest.post(
        "/v1/log", content=b"{}", headers={"content-type": "text/plain"}
    )
    assert_envelope(response, 415, "unsupported_media_type")
    response = await live.ingest.post("/v1/log", content=json.dumps(EVENT).encode())
    assert_envelope(response, 415, "unsupported_media_type")
    ok = await live.ingest.post(
        "/v1/log",
        content=json.dumps(EVENT),
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert ok.status_code == 202


async def test_a_compressed_body_is_refused_by_its_coding(live: Live) -> None:
    plain = json.dumps(EVENT).encode()
    for client, path, media in (
        (live.ingest, "/v1/log", "application/json"),
        (live.ingest, "/v1/log/batch", "application/x-ndjson"),
        (live.integrity, "/v1/events", "application/json"),
        (live.integrity, "/v1/validate", "application/json"),
    ):
        # gzip for real, and a coding the body does not even have: neither is read as JSON
        for coding, body in (("gzip", gzip.compress(plain)), ("br", plain)):
            headers = {"content-type": media, "content-encoding": coding}
            response = await client.post(path, content=body, headers=headers)
            error = assert_envelope(response, 415, "unsupported_media_type")
            assert (
                error["message"] == "Content-Encoding is not supported: send the body uncompressed"
            )
            assert error["details"] == [{"content_encoding": coding}]
            assert response.headers["accept-encoding"] == "identity"
    assert journal_lines(live) == []
    headers = {"content-type": "application/json", "content-encoding": "identity"}
    assert (await live.ingest.post("/v1/log", content=plain, headers=headers)).status_code == 202


async def test_bodies_refused_before_decoding_are_counted_by_reason(live: Live) -> None:
    too_big = b"[" + b" " * (1024 * 1024) + b"]"
    refusals = [
        (live.ingest, "/v1/log", {"content-type": "text/plain"}, b"{}"),
        (live.integrity, "/v1/events", {"content-type": "application/json",
                                         "content-encoding": "gzip"}, b"{}"),
        (live.ingest, "/v1/log/batch", {"content-type": "application/json"}, too_big),
        (live.integrity, "/v1/validate", {"content-type": "application/json"}, too_big),
    ]  # fmt: skip
    for client, path, headers, body in refusals:
        assert (await client.post(path, content=body, headers=headers)).status_code in (413, 415)
    metrics = (await live.ingest.get("/metrics")).text
    assert 'signals_rejections_total{reason="unsupported_media_type"} 2.0' in metrics
    assert 'signals_rejections_total{reason="payload_too_large"} 2.0' in metrics


async def test_a_trailing_slash_redirects_to_the_path_without_it(live: Live) -> None:
    for method, path, target in (
        ("GET", "/v1/signals/?limit=1", "/v1/signals?limit=1"),
        ("POST", "/v1/log/", "/v1/log"),
    ):
        response = await live.ingest.request(method, path)
        assert response.status_code == 307
        assert response.headers["location"] == live.ingest_url + target
        assert response.headers["x-request-id"]
    assert_envelope(await live.ingest.get("/v2/nothing/"), 404, "not_found")


async def test_not_found_and_method_not_allowed(live: Live) -> None:
    assert_envelope(await live.ingest.get("/v2/nothing"), 404, "not_found")
    assert_envelope(await live.integrity.get("/v1/log"), 404, "not_found")
    error = assert_envelope(await live.ingest.get("/v1/log"), 405, "method_not_allowed")
    assert "GET" in str(error["message"])
    assert_envelope(await live.integrity.delete("/v1/events"), 405, "method_not_allowed")


async def test_body_limit_by_declared_length(live: Live) -> None:
    big = json.dumps({**EVENT, "text": "x" * (1024 * 1024)})
    response = await live.ingest.post(
        "/v1/log", content=big, headers={"content-type": "application/json"}
    )
    error = assert_envelope(response, 413, "payload_too_large")
    assert error["details"] == [{"max_body_bytes": 1024 * 1024}]
    assert journal_lines(live) == []


async def test_body_limit_while_streaming_a_chunked_body(live: Live) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"user_id": "u", "signal_type": "chat", "text": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}'

    response = await live.ingest.post(
        "/v1/log/batch", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_envelope(response, 413, "payload_too_large")
    assert journal_lines(live) == []


async def test_a_lying_content_length_cannot_smuggle_a_bigger_body(live: Live) -> None:
    # Declares 60 bytes, sends far more: the server reads exactly what was declared, so the
    # request is a truncated document (400), and the surplus is never taken as the body.
    url = urlsplit(live.ingest_url)
    payload = json.dumps({**EVENT, "text": "z" * 200_000}).encode()
    head = (
        b"POST /v1/log HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 60\r\nConnection: close\r\n\r\n"
    )

    def exchange() -> bytes:
        with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
            sock.sendall(head + payload[:60])
            with contextlib.suppress(OSError):
                sock.sendall(payload[60:])
            return sock.recv(65536)

    answer = await asyncio.to_thread(exchange)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert journal_lines(live) == []


async def test_batch_keeps_valid_items_and_rejects_by_index(live: Live) -> None:
    items = [EVENT, {"user_id": "", "signal_type": "chat"}, {**EVENT, "event_id": "b-1"}, 7]
    response = await live.ingest.post("/v1/log/batch", json=items)
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 2 and body["duplicates"] == 0
    assert body["event_ids"][1] == "b-1"
    assert [r["index"] for r in body["rejected"]] == [1, 3]
    assert body["rejected"][0]["errors"][0]["loc"] == ["body", 1, "user_id"]
    assert len(journal_lines(live)) == 2
    again = await live.ingest.post("/v1/log/batch", json=[{**EVENT, "event_id": "b-1"}])
    assert again.json()["duplicates"] == 1 and again.json()["accepted"] == 0


async def test_ndjson_batch(live: Live) -> None:
    lines = [json.dumps({**EVENT, "user_id": f"n{i}"}) for i in range(5)] + ["{oops", ""]
    response = await live.ingest.post(
        "/v1/log/batch", content="\n".join(lines), headers={"content-type": "application/x-ndjson"}
    )
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 5
    assert body["rejected"][0]["index"] == 5
    assert "malformed" in body["rejected"][0]["errors"][0]["msg"]


async def test_batch_errors(live: Live) -> None:
    all_bad = await live.ingest.post("/v1/log/batch", json=[{"x": 1}, {"user_id": "u"}])
    error = assert_envelope(all_bad, 422, "validation_failed")
    details = error["details"]
    assert isinstance(details, list)
    locs = [d["loc"] for d in details]
    assert ["body", 0, "x"] in locs and ["body", 1, "signal_type"] in locs
    assert_envelope(await live.ingest.post("/v1/log/batch", json=[]), 422, "validation_failed")
    assert_envelope(await live.ingest.post("/v1/log/batch", json=EVENT), 422, "validation_failed")
    too_many = [EVENT] * 1001
    error = assert_envelope(
        await live.ingest.post("/v1/log/batch", json=too_many), 413, "payload_too_large"
    )
    assert error["details"] == [{"max_batch": 1000}]
    assert journal_lines(live) == []


async def test_integrity_events_and_validate(live: Live) -> None:
    one = await live.integrity.post("/v1/events", json={**EVENT, "event_id": "i-1"})
    assert one.status_code == 202 and one.json()["event_id"] == "i-1"
    many = await live.integrity.post("/v1/events", json=[EVENT, {**EVENT, "event_id": "i-1"}])
    assert many.status_code == 202 and many.json()["duplicates"] == 1
    assert_envelope(await live.integrity.post("/v1/events", json={"user_id": 1}), 422,
                    "validation_failed")  # fmt: skip
    valid = await live.integrity.post("/v1/validate", json=EVENT)
    assert valid.status_code == 200 and valid.json() == {"valid": True}
    invalid = await live.integrity.post("/v1/validate", json=[EVENT, {"user_id": "u"}])
    assert_envelope(invalid, 422, "validation_failed")
    assert len(journal_lines(live)) == 2  # validate writes nothing


async def test_probes_and_openapi_on_both_ports(live: Live) -> None:
    for client in (live.ingest, live.integrity):
        health = await client.get("/health")
        assert health.status_code == 200
        assert health.json()["status"] == "ok" and health.json()["service"] == "signals"
        ready = await client.get("/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        assert set(ready.json()["checks"]) >= {"journal", "store", "windows", "consumer"}
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200 and "signals_events_total" in metrics.text
        spec = (await client.get("/openapi.json")).json()
        assert spec["openapi"].startswith("3.")
        assert "Event" in spec["components"]["schemas"]
    ingest_paths = (await live.ingest.get("/openapi.json")).json()["paths"]
    assert {"/v1/log", "/log", "/v1/log/batch", "/v1/signals", "/v1/stats"} <= set(ingest_paths)
    integrity_paths = (await live.integrity.get("/openapi.json")).json()["paths"]
    assert {"/v1/events", "/v1/validate", "/v1/anomalies", "/v1/alerts"} <= set(integrity_paths)


async def test_latency_metric_uses_route_templates(live: Live) -> None:
    await live.integrity.get("/v1/anomalies/some-user")
    text = (await live.integrity.get("/metrics")).text
    assert 'route="/v1/anomalies/{user_id:text}"' in text
    assert "some-user" not in text


async def test_a_failing_journal_answers_503_and_is_not_ready_until_it_writes_again(
    live: Live,
) -> None:
    """A disk whose fsync fails (the journal's fsync seam: see tests/journal/test_journal_faults.py
    for the same fault on its own, tests/durability/test_full_disk.py for a disk that fills)."""
    journal = local_journal(live)
    healthy = journal.fsync

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    journal.fsync = failing
    try:
        refused = await live.ingest.post("/v1/log", json=EVENT)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "unavailable"
        assert int(refused.headers["retry-after"]) >= 1
        batch = await live.integrity.post("/v1/events", json=[EVENT, EVENT])
        assert batch.status_code == 503
        ready = await live.ingest.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unready"
        assert ready.json()["checks"]["journal"]["status"] == "failed"
    finally:
        journal.fsync = healthy
    # No request needed: the writer's probe finds the disk healthy again.
    async with asyncio.timeout(10):
        while (await live.ingest.get("/ready")).status_code != 200:
            await asyncio.sleep(0.05)
    accepted = await live.ingest.post("/v1/log", json=EVENT)
    assert accepted.status_code == 202
    await live.settle()
    page = await live.services.store.signals(SignalQuery(limit=10))
    assert [record.event_id for record in page.items] == [accepted.json()["event_id"]]
