"""The PostgreSQL store: asyncpg, for several instances sharing one store."""
