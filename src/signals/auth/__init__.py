"""API keys, scopes, abuse limits and hardening headers (docs/security.md).

    keys.py      digests, constant-time lookup, `keygen`
    scopes.py    which method and path need which scope (one small table)
    exposure.py  protected mode: no keys is allowed only on loopback
    limiter.py   failure limiter and per-key token buckets (memory; Redis with fallback)
    guard.py     the pure-ASGI middleware that puts them together
    headers.py   security headers on every response
    wiring.py    `guards_for(settings, metrics, redis)`: what the composition root installs

A key is only ever handled as its SHA-256 digest or its configured name; the plaintext key is
never logged, stored or echoed.
"""
