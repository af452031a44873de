"""Which request needs which scope (docs/security.md), decided by method and path from one table.

The first matching rule wins:

    method          path              needs
    GET, HEAD       /metrics          nothing, or `read` with auth.protect_metrics
    GET, HEAD       /v1/...           read      (signals, export, stats, anomalies, alerts)
    GET, HEAD,      anything else     nothing   (/health, /ready, /, /static/..., /openapi.json;
    OPTIONS                                      an unknown path here holds no data: plain 404)
    any other       anything          ingest    (the default: every POST; unknown writes fail
                                                 closed)

So an API route added later under /v1/ or with a write method is protected by default. HEAD is
a GET without a body and needs what GET needs. `admin` grants every scope.
"""

from __future__ import annotations

from dataclasses import dataclass

from signals.settings import Scope

READS = frozenset({"GET", "HEAD"})
ADMIN: Scope = "admin"


@dataclass(frozen=True)
class Rule:
    methods: frozenset[str]
    path: str
    prefix: bool
    needs: Scope | None  # None: open


def rules(*, protect_metrics: bool) -> tuple[Rule, ...]:
    return (
        Rule(READS, "/metrics", prefix=False, needs="read" if protect_metrics else None),
        Rule(READS, "/v1/", prefix=True, needs="read"),
        Rule(READS | {"OPTIONS"}, "", prefix=True, needs=None),
    )


# What a request matching no rule needs: every other method is a write.
DEFAULT: Scope = "ingest"


class ScopeMap:
    """`required(method, path)`: the scope a request needs, or None when it is open."""

    def __init__(self, *, protect_metrics: bool) -> None:
        self._rules = rules(protect_metrics=protect_metrics)

    def required(self, method: str, path: str) -> Scope | None:
        for rule in self._rules:
            if method in rule.methods and (
                path.startswith(rule.path) if rule.prefix else path == rule.path
            ):
                return rule.needs
        return DEFAULT


def grants(scopes: list[Scope], needed: Scope) -> bool:
    return needed in scopes or ADMIN in scopes
