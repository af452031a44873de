"""The integrity monitor: the port (8001) for producers' events, validation, anomaly and alert
history, and the stage behind both ports that stores each journaled record and watches it:
`handoff` (journal order in), `consumer` (one store transaction per batch), `detection`
(`windows/` count, `episodes/` decide, `alerts/` send)."""
