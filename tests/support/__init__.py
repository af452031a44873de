"""Helpers the tests share: real servers and processes, started and stopped by the tests."""
