"""Sliding windows per (user_id, signal_type) key: in memory or in Redis sorted sets."""
