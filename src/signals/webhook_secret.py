"""The Standard Webhooks secret format: `whsec_` followed by the base64 of the HMAC key.

Read by the settings (a malformed secret is a settings problem, reported by `check-config`) and
by the signer. `ValueError` from here never contains the secret itself.
"""

from __future__ import annotations

import base64
import binascii

SECRET_PREFIX = "whsec_"


def signing_key(value: str) -> bytes:
    """The HMAC key a `whsec_` secret holds; ValueError when it is not one."""
    if not value.startswith(SECRET_PREFIX):
        raise ValueError(f"must be a {SECRET_PREFIX}-prefixed base64 string (Standard Webhooks)")
    encoded = value[len(SECRET_PREFIX) :]
    # Padding is optional in the scheme's reference libraries, so unpadded secrets are accepted.
    padded = encoded + "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"must be {SECRET_PREFIX!r} followed by valid base64") from None
    if not key:
        raise ValueError(f"must not be empty after the {SECRET_PREFIX} prefix")
    return key
