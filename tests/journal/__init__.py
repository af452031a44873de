"""Tests of the journal: real segment files in tmp_path."""
