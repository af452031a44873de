"""The ingest port (8000): events in, history and the dashboard out."""
