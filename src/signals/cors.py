"""CORS for the browser origins an operator lists (`auth.cors_origins`).

Starlette's middleware does the work; a preflight it refuses (an origin, method or header not
allowed) is answered in the error envelope, as every error here is, rather than as plain text:
403 `forbidden`, naming what was refused. Browsers fail any non-2xx preflight alike.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from signals.http import ApiError, error_response

_REFUSED = "Disallowed CORS "  # how Starlette's refusal starts: "Disallowed CORS origin, method"


class Cors(CORSMiddleware):
    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        refused = bytes(response.body).decode().removeprefix(_REFUSED).split(", ")
        kept = {
            name: value
            for name, value in response.headers.items()
            if name.startswith("access-control-") or name == "vary"
        }
        return _Refusal(refused, request_headers.get("origin"), kept)


class _Refusal(Response):
    """The envelope is built when sent: it carries the request's id, which is in the scope."""

    def __init__(self, refused: list[str], origin: str | None, headers: dict[str, str]) -> None:
        super().__init__(status_code=403)
        self._error = ApiError(
            403,
            f"CORS preflight refused: {', '.join(refused)} not allowed (auth.cors_origins)",
            details=[{"origin": origin, "refused": refused}],
            headers=headers,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await error_response(scope, self._error)(scope, receive, send)
