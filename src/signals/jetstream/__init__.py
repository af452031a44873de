"""The journal on NATS JetStream (`journal.backend = "jetstream"`), for deployments that outgrow
one disk: a replicated stream instead of `data_dir/journal`.

    layout      the stream, its per-user partition subjects, consumers and leases
    provision   creates them when missing; refuses a stream made with other settings
    connection  connects, and warns when the servers do not fsync every write
    journal     appends: pipelined publishes, `Nats-Msg-Id` = event_id, duplicates answered
    leases      at most one instance reads a partition of a consumer group at a time
    partitions  the readers of the partitions this instance holds, each in order
    records     stream messages back into records
    replay      `signals replay` from the stream

`signals.streamed` wires these into the service; the local journal stays the default.
"""
