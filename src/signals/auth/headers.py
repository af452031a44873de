"""Security headers on every response: a pure-ASGI middleware for both ports.

Every response gets `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` and
`X-Frame-Options: DENY`; HTML and the dashboard's files (`/`, `/static/...`) also get a strict
`Content-Security-Policy` (no inline script or style: the dashboard loads everything from its
own origin). A header the app already set is left as it is.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
ALWAYS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
CSP: tuple[bytes, bytes] = (b"content-security-policy", CONTENT_SECURITY_POLICY.encode("ascii"))


def is_dashboard(path: str) -> bool:
    return path == "/" or path.startswith("/static/")


def harden(headers: list[tuple[bytes, bytes]], *, dashboard: bool) -> list[tuple[bytes, bytes]]:
    """`headers` with the security headers the app did not set itself."""
    present = {name.lower(): value for name, value in headers}
    headers = headers + [header for header in ALWAYS if header[0] not in present]
    html = present.get(b"content-type", b"").lower().startswith(b"text/html")
    if (html or dashboard) and CSP[0] not in present:
        headers.append(CSP)
    return headers


class SecurityHeaders:
    """The security headers as a middleware of their own. The service's apps get them from
    `signals.http.RequestContext`, which adds them in the same pass as the request id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        dashboard = is_dashboard(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = harden(list(message.get("headers", [])), dashboard=dashboard)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
