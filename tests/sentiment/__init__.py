"""Tests of the sentiment classifier: rule tables, explanations, overrides, labelled sets."""
