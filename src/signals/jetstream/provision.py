"""The stream, its consumers and the lease bucket: created when missing, refused when different.

An existing stream whose settings differ from ours (`layout.mismatches`) is not changed behind
the operator's back: the start stops with `StreamRefused` naming each difference. Consumers are
created when missing; an existing one keeps where it starts (a reader may have remade it from
its ack floor, `signals.jetstream.partitions`) and gets our ack wait and pending limit. Two
instances starting together may both create: JetStream answers the second with the same stream
or consumer, since their settings are the same.
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
        assert config.durable_name is not None
        try:
            found = (await js.consumer_info(settings.stream, config.durable_name)).config
        except nats.js.errors.NotFoundError:
            found = None
        try:
            if found is None:
                await js.add_consumer(settings.stream, config)
            elif found.filter_subject != config.filter_subject:
                raise StreamRefused(
                    f"the JetStream consumer {config.durable_name!r} reads "
                    f"{found.filter_subject!r}, not {config.filter_subject!r}: delete it"
                )
            elif (found.ack_wait, found.max_ack_pending) != (
                config.ack_wait, config.max_ack_pending,
            ):  # fmt: skip
                # Where a reader rewound it, it starts at a sequence: keep that, change the rest.
                update = found.evolve(ack_wait=config.ack_wait,
                                      max_ack_pending=config.max_ack_pending)  # fmt: skip
                await js.add_consumer(settings.stream, update)
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
