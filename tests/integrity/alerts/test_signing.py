"""Standard Webhooks signatures, checked by an independent implementation (`standardwebhooks`)."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from signals.integrity.alerts.signing import headers, sign, signing_key
from signals.secret import Secret

BODY = b'{"type":"anomaly.critical","episode":{"id":"ep_1"},"sent_at":"2025-01-02T03:04:05Z"}'


def test_headers_verify_with_the_reference_library(secret: str) -> None:
    now = int(time.time())
    sent = headers(Secret(secret), "msg_ep_1_critical", now, BODY)
    assert sent["webhook-id"] == "msg_ep_1_critical"
    assert sent["webhook-timestamp"] == str(now)
    assert sent["content-type"] == "application/json"
    assert Webhook(secret).verify(BODY, sent)["episode"] == {"id": "ep_1"}


def test_signature_matches_the_reference_library(secret: str) -> None:
    timestamp = 1_735_787_045
    theirs = Webhook(secret).sign("msg_1", datetime.fromtimestamp(timestamp, UTC), BODY.decode())
    assert sign(Secret(secret), "msg_1", timestamp, BODY) == theirs
    assert theirs.startswith("v1,")


def test_unpadded_secret_is_accepted_as_the_scheme_allows() -> None:
    key = b"sixteen byte key!"  # 17 bytes: its base64 has padding to drop
    unpadded = "whsec_" + base64.b64encode(key).decode().rstrip("=")
    assert signing_key(Secret(unpadded)) == key
    now = int(time.time())
    Webhook(unpadded).verify(BODY, headers(Secret(unpadded), "msg_1", now, BODY))


@pytest.mark.parametrize(
    ("change", "value"),
    [("body", BODY + b" "), ("webhook-id", "msg_other"), ("webhook-timestamp", "0")],
)
def test_tampering_fails_verification(secret: str, change: str, value: object) -> None:
    now = int(time.time())
    sent = headers(Secret(secret), "msg_1", now, BODY)
    body = BODY
    if change == "body":
        assert isinstance(value, bytes)
        body = value
    else:
        assert isinstance(value, str)
        sent[change] = value
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, sent)


def test_another_secret_fails_verification(secret: str) -> None:
    other = "whsec_" + base64.b64encode(b"another key entirely").decode()
    sent = headers(Secret(other), "msg_1", int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, sent)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "c2VjcmV0",  # base64 without the prefix
        "WHSEC_c2VjcmV0",
        "whsec_",
        "whsec_not*base64",
        "whsec_c2Vj=cmV0",
        "whsec_ c2VjcmV0",
    ],
)
def test_malformed_secrets_are_refused_without_showing_them(value: str) -> None:
    with pytest.raises(ValueError, match="webhook secret") as raised:
        sign(Secret(value), "msg_1", 0, BODY)
    secret_part = value.removeprefix("whsec_")
    if secret_part:
        assert secret_part not in str(raised.value)
