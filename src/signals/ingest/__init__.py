"""The ingest side: the port (8000) that takes agents' events and serves their history, stats
and the dashboard (`app`, `history`), and the router forwarder that tails the journal
(`forwarder`)."""
