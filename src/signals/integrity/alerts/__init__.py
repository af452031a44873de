"""Signed webhook alerts: the outbox entry (`outbox`), Standard Webhooks signing (`signing`), one
attempt (`sender`), the dispatcher that claims and sends due deliveries (`dispatcher`), and the
full-jitter delays kept with each delivery (`backoff`)."""
