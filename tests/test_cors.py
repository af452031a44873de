"""CORS for listed browser origins: allowed preflights, and refusals in the error envelope."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import live_service, settings_for

ALLOWED = "https://dash.example"


def preflight(origin: str, method: str = "POST", headers: str = "") -> dict[str, str]:
    asked = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        asked["Access-Control-Request-Headers"] = headers
    return asked


async def test_a_listed_origin_is_allowed_and_others_get_the_envelope(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, auth__cors_origins=f'["{ALLOWED}"]')
    async with live_service(settings) as live:
        ok = await live.ingest.options("/v1/log", headers=preflight(ALLOWED, headers="x-api-key"))
        assert ok.status_code == 200
        # a browser's tracing adds trace context to the POSTs it makes
        traced = preflight(ALLOWED, headers="content-type,traceparent,tracestate")
        for client, path in ((live.ingest, "/v1/log/batch"), (live.integrity, "/v1/events")):
            response = await client.options(path, headers=traced)
            assert response.status_code == 200, response.text
            allowed = response.headers["access-control-allow-headers"].lower()
            assert {"traceparent", "tracestate"} <= set(allowed.replace(" ", "").split(","))
        assert ok.headers["access-control-allow-origin"] == ALLOWED
        assert "POST" in ok.headers["access-control-allow-methods"]

        for asked, refused in [
            (preflight("https://evil.example"), ["origin"]),
            (preflight(ALLOWED, method="DELETE"), ["method"]),
            (preflight("https://evil.example", method="PUT"), ["origin", "method"]),
            (preflight(ALLOWED, headers="x-evil"), ["headers"]),
        ]:
            for client, path in ((live.ingest, "/v1/log"), (live.integrity, "/v1/anomalies")):
                response = await client.options(path, headers={**asked, "X-Request-ID": "cors-1"})
                assert response.status_code == 403, response.text
                assert response.headers["content-type"] == "application/json"
                assert response.headers["x-request-id"] == "cors-1"
                assert response.json() == {
                    "error": {
                        "code": "forbidden",
                        "message": f"CORS preflight refused: {', '.join(refused)} not allowed "
                        "(auth.cors_origins)",
                        "details": [{"origin": asked["Origin"], "refused": refused}],
                    },
                    "request_id": "cors-1",
                }

        simple = await live.ingest.get("/health", headers={"Origin": ALLOWED})
        assert simple.headers["access-control-allow-origin"] == ALLOWED
        assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
