"""The stream, its consumers and the lease bucket: created when missing, refused when different.

An existing stream whose settings differ from ours (`layout.mismatches`) is not changed behind
the operator's back: the start stops with `StreamRefused` naming each difference. Consumers are
created, or updated where JetStream allows it (ack wait, pending limit); a change it refuses is
a `StreamRefused` too. Two instances starting together may both create: JetStream answers the
second with the same stream or consumer, since their settings are the same.
"""

from __future__ import annotations

import asyncio

import nats.errors
import nats.js.errors
import structlog
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from signals.errors import DependencyUnavailable, StreamRefused
from signals.jetstream.layout import consumer_config, leases_bucket, mismatches, stream_config
from signals.settings import JournalSettings

log = structlog.get_logger(__name__)


async def ensure_stream(js: JetStreamContext, settings: JournalSettings) -> None:
    name = settings.stream
    try:
        found = await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        try:
            await js.add_stream(stream_config(settings))
        except nats.js.errors.APIError as exc:
            raise StreamRefused(
                f"cannot create the JetStream stream {name!r}: {exc.description} (replicas "
                f"{settings.replicas} needs that many JetStream servers in the cluster)"
            ) from None
        log.info("jetstream.stream_created", stream=name, replicas=settings.replicas,
                 partitions=settings.partitions)  # fmt: skip
        return
    except (TimeoutError, nats.errors.Error) as exc:
        raise DependencyUnavailable(
            "JetStream", name, f"stream info: {type(exc).__name__}"
        ) from exc
    problems = mismatches(settings, found.config)
    if problems:
        raise StreamRefused(
            f"the JetStream stream {name!r} exists with other settings than ours: "
            + "; ".join(problems)
            + ". Make the [journal] settings match it, name another journal.stream, or edit "
            "the stream (`nats stream edit`; the partition count can never change)"
        )


async def ensure_consumers(js: JetStreamContext, settings: JournalSettings, group: str) -> None:
    """One durable consumer per partition of `group`."""

    async def ensure(partition: int) -> None:
        config = consumer_config(settings, group, partition)
        try:
            await js.add_consumer(settings.stream, config)
        except nats.js.errors.APIError as exc:
            raise StreamRefused(
                f"cannot create or update the JetStream consumer {config.durable_name!r} of "
                f"stream {settings.stream!r}: {exc.description}"
            ) from None

    await asyncio.gather(*(ensure(partition) for partition in range(settings.partitions)))


async def ensure_leases(js: JetStreamContext, settings: JournalSettings) -> KeyValue:
    """The bucket of partition leases; an entry not renewed within its TTL is gone."""
    bucket = leases_bucket(settings.stream)
    try:
        return await js.key_value(bucket)
    except nats.js.errors.BucketNotFoundError:
        pass
    try:
        return await js.create_key_value(
            bucket=bucket, ttl=settings.lease_seconds, history=1, replicas=settings.replicas,
            description="signals: which instance reads which journal partition",
        )  # fmt: skip
    except nats.js.errors.APIError as exc:
        raise StreamRefused(
            f"cannot create the JetStream bucket {bucket!r}: {exc.description}"
        ) from None
