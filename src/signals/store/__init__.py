"""The store: where records, episodes, the alert outbox and checkpoints are kept and queried."""
