"""Standard Webhooks signatures (https://www.standardwebhooks.com), as receivers verify them.

The secret is `whsec_` followed by the base64 of the HMAC key. The signature is
`v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}." + body>`, where the timestamp is
the integer epoch second of the send attempt: each retry keeps its `webhook-id` and its body but
is signed afresh, because receivers reject timestamps more than a few minutes old.

`ValueError` from here never contains the secret itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from signals.secret import Secret
from signals.webhook_secret import signing_key as secret_key


def signing_key(secret: Secret) -> bytes:
    """The HMAC key a `whsec_` secret holds; ValueError when it is not one."""
    try:
        return secret_key(secret.reveal())
    except ValueError as exc:
        raise ValueError(f"webhook secret {exc}") from None


def _signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def sign(secret: Secret, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one send attempt."""
    return _signature(signing_key(secret), msg_id, timestamp, body)


def signed_headers(key: bytes, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """`headers` with an already-decoded key: the dispatcher decodes the secret once."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": _signature(key, msg_id, timestamp, body),
        "content-type": "application/json",
    }


def headers(secret: Secret, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every header a signed webhook POST carries."""
    return signed_headers(signing_key(secret), msg_id, timestamp, body)
