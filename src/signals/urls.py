"""Connection URLs made safe to log and show: passwords masked wherever they sit."""

from __future__ import annotations

import re
from ipaddress import ip_address, ip_network
from urllib.parse import SplitResult, unquote, urlsplit

MASK = "***"
_QUERY_PASSWORD = re.compile(r"(?i)(^|&)(password=)[^&]*")


_INVALID = "is not a valid URL"


def _split(url: str) -> SplitResult | None:
    """`url`'s parts, or None when it does not parse or its port is no number in range."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # parsed on access: a bad port raises here
    except ValueError:
        return None
    return parts


def http_url_problem(url: str) -> str | None:
    """What keeps `url` from being an absolute http(s) URL with a host; None when it is one."""
    parts = _split(url)
    if parts is None:
        return _INVALID
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    return None


def url_problem(url: str, schemes: tuple[str, ...]) -> str | None:
    """What keeps `url` from being a URL of one of `schemes` with a valid port; None when it is
    one. Checked at start, so a URL that could never connect is a settings problem (exit 2)."""
    parts = _split(url)
    if parts is None:
        return _INVALID
    if parts.scheme not in schemes:
        return "must be a " + " or ".join(f"{scheme}://" for scheme in schemes) + " URL"
    return None


def proxy_problem(proxy: str) -> str | None:
    """None for an IP address or a network, as uvicorn reads them; it takes anything else (a
    name, `10.0.0.1/8` with host bits set) for a literal that no peer ever is, and silently
    believes no proxy."""
    try:
        ip_address(proxy) if "/" not in proxy else ip_network(proxy)
    except ValueError:
        return "must be an IP address or a network (10.0.0.0/8), or `*` alone"
    return None


def origin_problem(origin: str) -> str | None:
    """What keeps `origin` from ever equalling a browser's `Origin` header, which CORS compares
    as a string: None for `*` or `scheme://host[:port]` spelled as browsers send it (lower case,
    no path or slash, no default port)."""
    if origin == "*":
        return None
    problem = http_url_problem(origin)
    if problem:
        return problem
    parts = urlsplit(origin)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    default = {"http": 80, "https": 443}[parts.scheme]
    port = f":{parts.port}" if parts.port not in (None, default) else ""
    spelled = f"{parts.scheme}://{host}{port}"
    return None if origin == spelled else f"is not an origin as browsers send it: {spelled!r}"


def masked_url(url: str) -> str:
    """`url` with any password (in the userinfo or a `password=` query value) as `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparsable URL)"
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        url = url.replace(f"{userinfo}@", f"{userinfo.split(':', 1)[0]}:{MASK}@", 1)
    head, question, query = url.partition("?")
    return head + question + _QUERY_PASSWORD.sub(rf"\1\2{MASK}", query)


def scrubbed(reason: object, url: str) -> str:
    """An error text with the URL's password masked, should a library ever echo it."""
    text = str(reason)
    try:
        parts = urlsplit(url)
    except ValueError:
        return text
    secrets = [parts.password, *re.findall(r"(?i)(?:^|&)password=([^&]*)", parts.query)]
    for secret in filter(None, secrets):
        text = text.replace(secret, MASK).replace(unquote(secret), MASK)
    return text
