"""Standard Webhooks signatures (https://www.standardwebhooks.com), as receivers verify them.

The secret is `whsec_` followed by the base64 of the HMAC key. The signature is
`v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}." + body>`, where the timestamp is
the integer epoch second of the send attempt: each retry keeps its `webhook-id` and its body but
is signed afresh, because receivers reject timestamps more than a few minutes old.

`ValueError` from here never contains the secret itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from signals.settings import Secret

SECRET_PREFIX = "whsec_"


def signing_key(secret: Secret) -> bytes:
    """The HMAC key a `whsec_` secret holds; ValueError when it is not one."""
    value = secret.reveal()
    if not value.startswith(SECRET_PREFIX):
        raise ValueError(f"webhook secret must start with {SECRET_PREFIX!r}")
    encoded = value[len(SECRET_PREFIX) :]
    # Padding is optional in the scheme's reference libraries, so unpadded secrets are accepted.
    padded = encoded + "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            f"webhook secret must be {SECRET_PREFIX!r} followed by valid base64"
        ) from None
    if not key:
        raise ValueError("webhook secret must not be empty after the whsec_ prefix")
    return key


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
