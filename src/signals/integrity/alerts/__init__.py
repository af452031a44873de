"""Signed webhook alerts (SPEC §5): the outbox entry and its delivery."""
