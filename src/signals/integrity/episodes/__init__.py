"""Anomaly detection: the pure decision (`detector`) and episode transitions (`episodes`)."""
