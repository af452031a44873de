"""The integrity port (8001): events from producers, validation, anomaly and alert history."""
