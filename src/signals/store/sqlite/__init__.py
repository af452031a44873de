"""The SQLite store: the embedded default, one file, aiosqlite in WAL mode."""
