"""Security headers on every response, and /static that cannot be walked out of."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from tests.auth.stub import INGEST_KEY, READ_KEY, MakeStub, client_for, settings_with

from signals.auth.headers import CONTENT_SECURITY_POLICY, SecurityHeaders

ALWAYS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def assert_hardened(headers: dict[str, str] | object, *, csp: bool) -> None:
    assert isinstance(headers, dict)
    for name, value in ALWAYS.items():
        assert headers.get(name) == value, name
    assert (headers.get("content-security-policy") == CONTENT_SECURITY_POLICY) is csp


@pytest.mark.parametrize(
    ("method", "path", "key", "status", "csp"),
    [
        ("GET", "/", None, 200, True),
        ("GET", "/static/app.js", None, 200, True),
        ("GET", "/static/missing.js", None, 404, True),
        ("GET", "/health", None, 200, False),
        ("GET", "/metrics", None, 200, False),
        ("GET", "/openapi.json", None, 200, False),
        ("GET", "/v1/signals", READ_KEY, 200, False),
        ("GET", "/v1/signals", None, 401, False),
        ("GET", "/v1/signals", "sk_wrong", 401, False),
        ("POST", "/v1/log", READ_KEY, 403, False),
        ("GET", "/nowhere", None, 404, False),
        ("DELETE", "/health", INGEST_KEY, 405, False),
    ],
)
async def test_every_response_is_hardened(
    make_stub: MakeStub, method: str, path: str, key: str | None, status: int, *, csp: bool
) -> None:
    headers = {"X-API-Key": key} if key else {}
    async with client_for(make_stub(settings_with())) as client:
        response = await client.request(method, path, headers=headers)
    assert response.status_code == status
    assert_hardened(dict(response.headers), csp=csp)
    assert len(response.headers.get_list("x-frame-options")) == 1


async def test_rate_limited_responses_are_hardened(make_stub: MakeStub) -> None:
    async with client_for(make_stub(settings_with(max_failures=1))) as client:
        await client.get("/v1/stats")
        response = await client.get("/v1/stats")
    assert response.status_code == 429
    assert_hardened(dict(response.headers), csp=False)


async def collect(app: ASGIApp, path: str, method: str = "GET") -> tuple[int, dict[str, str]]:
    """One request as a server hands it over: `path` already percent-decoded, kept verbatim."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[Message] = []
    requested = False
    finished = asyncio.Event()

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()  # the client hangs up once the response is complete
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            finished.set()

    await app(scope, receive, send)
    start = sent[0]
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in start["headers"]}
    return int(start["status"]), headers


@pytest.mark.parametrize(
    "path",
    [
        "/static/../secret.txt",  # what a server passes on for `..%2fsecret.txt` too
        "/static/../../secret.txt",
        "/static/./../secret.txt",
        "/static/vendor/../../secret.txt",
        "/static/....//secret.txt",
        "/static/..\\secret.txt",
        "/static//etc/passwd",
        "/static/\\etc\\passwd",
        "/static/../web/../secret.txt",
        "/static/secret.txt\x00.js",
        "/static/" + "a" * 5000,
    ],
)
async def test_static_refuses_traversal_and_absolute_paths(
    make_stub: MakeStub, web_dir: Path, path: str
) -> None:
    assert (web_dir.parent / "secret.txt").is_file()
    status, headers = await collect(make_stub(settings_with()), path)
    assert status == 404
    assert headers["content-type"] == "application/json"
    assert_hardened(headers, csp=True)


async def test_static_serves_its_own_files(make_stub: MakeStub) -> None:
    status, headers = await collect(make_stub(settings_with()), "/static/app.js")
    assert status == 200
    assert_hardened(headers, csp=True)


async def test_an_app_set_header_is_kept() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/html"),
                    (b"x-frame-options", b"SAMEORIGIN"),
                    (b"content-security-policy", b"default-src 'none'"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"<p>hi</p>"})

    status, headers = await collect(SecurityHeaders(app), "/elsewhere")
    assert status == 200
    assert headers["x-frame-options"] == "SAMEORIGIN"
    assert headers["content-security-policy"] == "default-src 'none'"
    assert headers["x-content-type-options"] == "nosniff"


async def test_any_html_gets_the_csp() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        start = {"type": "http.response.start", "status": 200}
        await send({**start, "headers": [(b"Content-Type", b"TEXT/HTML; charset=utf-8")]})
        await send({"type": "http.response.body", "body": b""})

    _, headers = await collect(SecurityHeaders(app), "/v1/report")
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
