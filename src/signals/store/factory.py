"""Opens the store that the settings name: a backend is a module, chosen here."""

from __future__ import annotations

from signals.settings import Settings
from signals.store.base import Store


async def open_store(settings: Settings) -> Store:
    if settings.store.backend == "postgres":
        from signals.store.postgres.store import PostgresStore  # noqa: PLC0415  # optional backend

        return await PostgresStore.open(
            settings.store.url, batch_max=settings.store.batch_max,
            pool_size=settings.store.pool_size,
        )  # fmt: skip
    from signals.store.sqlite.store import SqliteStore  # noqa: PLC0415  # each backend loads on use

    settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    return await SqliteStore.open(settings.sqlite_path, batch_max=settings.store.batch_max)
