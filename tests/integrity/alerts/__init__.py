"""Signed webhook alerts and the outbox."""
