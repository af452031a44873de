"""The integrity port's read endpoints: `/v1/anomalies`, `/v1/anomalies/{user_id}`, `/v1/alerts`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from signals.events import SignalType, UserId
from signals.labels import SEVERITIES
from signals.query_params import QueryParams, paged
from signals.records.delivery import DELIVERY_STATUSES
from signals.store.base import AlertQuery, AnomalyQuery, Store


class AnomalyHistory:
    def __init__(self, store: Store) -> None:
        self._store = store

    def _anomaly_query(self, request: Request, user_id: str | None) -> AnomalyQuery:
        params = QueryParams(request, ("severity", "signal_type", "since", "limit", "cursor"))
        if user_id is not None:
            params.path_text("user_id", user_id, UserId)
        severity = params.choice("severity", SEVERITIES)
        query = AnomalyQuery(
            user_id=user_id,
            severity=severity,  # type: ignore[arg-type]  # checked against SEVERITIES above
            signal_type=params.text("signal_type", SignalType),
            since_us=params.instant_us("since"),
            limit=params.limit(),
            cursor=params.cursor("anomalies"),
        )
        params.done()
        return query

    async def anomalies(self, request: Request) -> Response:
        query = self._anomaly_query(request, None)
        return await paged(lambda: self._store.anomalies(query))

    async def anomalies_of_user(self, request: Request) -> Response:
        query = self._anomaly_query(request, request.path_params["user_id"])
        return await paged(lambda: self._store.anomalies(query))

    async def alerts(self, request: Request) -> Response:
        params = QueryParams(request, ("status", "limit", "cursor"))
        status = params.choice("status", DELIVERY_STATUSES)
        query = AlertQuery(
            status=status,  # type: ignore[arg-type]  # checked against DELIVERY_STATUSES above
            limit=params.limit(),
            cursor=params.cursor("deliveries"),
        )
        params.done()
        page = await paged(lambda: self._store.deliveries(query))
        return page
