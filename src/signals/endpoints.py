"""POST endpoints as plain ASGI apps, and the table that sends those POSTs to them directly.

Nearly every request the service gets is an event POST, and its own work is a few tens of
microseconds: Starlette's layers around it (error and exception middleware, the routing table's
regular expressions, a `Request` and a `Response` object) cost about as much again. So a
`JsonEndpoint` does a POST's whole HTTP part itself: it checks the media type, reads the body
under its limit, calls its handler and writes the JSON answer (an `ApiError` becomes the error
envelope). `FastRoutes` sits in front of the Starlette app and hands a POST whose path is one of
those routes straight to its endpoint, setting `scope["route"]` as Starlette's router would (the
latency metric and a tracer name requests by it). Everything else goes to the Starlette app,
which has the same routes, so a GET on them is still a 405 and the OpenAPI documents list them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from signals.http import ApiError, error_response, read_body, require_media_type

# handler(scope, media type, body) -> (status, what to answer, encoded as JSON)
Handler = Callable[[Scope, str, bytes], Awaitable[tuple[int, Any]]]

_encode = msgspec.json.Encoder().encode
_JSON = (b"content-type", b"application/json")


class JsonEndpoint:
    """A JSON POST endpoint (see the module docstring); `limit` bounds the body in bytes."""

    def __init__(
        self,
        handler: Handler,
        *,
        media: tuple[str, ...],
        limit: int,
        refused: Callable[[str], None] = lambda code: None,
    ) -> None:
        self._handler = handler
        self._media = media
        self._limit = limit
        self._refused = refused  # told the code of a body refused before the handler sees it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            try:
                media = require_media_type(scope, self._media)
                body = await read_body(scope, receive, self._limit)
            except ApiError as error:
                self._refused(error.code)
                raise
            status, content = await self._handler(scope, media, body)
        except ApiError as error:
            await error_response(scope, error)(scope, receive, send)
            return
        except ClientDisconnect:
            return  # nobody to answer; nothing of the request was accepted
        payload = _encode(content)
        headers = [_JSON, (b"content-length", b"%d" % len(payload))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


class FastRoutes:
    """POSTs to the `JsonEndpoint` routes among `routes` go to their endpoint, the rest to `app`.

    A request under a `root_path` goes through `app`, whose router knows how to strip it.
    """

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self._posts = {
            route.path: route
            for route in routes
            if isinstance(route, Route)
            and isinstance(route.endpoint, JsonEndpoint)
            and route.methods == {"POST"}
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            route = self._posts.get(scope["path"])
            if route is not None:
                scope["route"] = route
                await route.endpoint(scope, receive, send)
                return
        await self.app(scope, receive, send)
