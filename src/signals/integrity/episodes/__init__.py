"""Anomaly episodes: the severity of a count (`severity`), the pure episode transitions
(`tracker`), and the episode state instances share through Redis (`redis_state`)."""
