"""Opening the store of a data directory: shared by the server and the CLI.

Kept apart from the composition root so that administration commands start quickly: they need
the store, not the doors, the numbering data or the event-loop machinery of a server.
"""

from __future__ import annotations

from smsgate.adapters.secret_box import SecretBox
from smsgate.adapters.secret_files import make_private_directory
from smsgate.adapters.storage.sqlite import SqliteStore
from smsgate.config import Config
from smsgate.ports.store import Store

__all__ = ["open_store"]


def open_store(config: Config) -> Store:
    """The store the configuration names (not started): the data directory's SQLite file, or
    the PostgreSQL database of ``[store] url``.

    A new master key is made only for a new SQLite database: one that exists holds secrets
    sealed with the old key, and a fresh key would silently make them unreadable. With
    PostgreSQL the key is made if the data directory has none (the first machine); every other
    machine of the installation needs a copy of it (a wrong key is refused with a message
    naming it when the first secret is read)."""
    make_private_directory(config.server.data_dir)
    if config.store.url:
        from smsgate.adapters.storage.postgres import PostgresStore  # noqa: PLC0415 - asyncpg

        box = SecretBox.from_key_file(config.master_key_path, create=True)
        return PostgresStore(
            config.store.url,
            box,
            durability=config.store.durability,
            commit_linger_s=config.store.commit_linger_ms / 1000,
            claimant=f"node:{config.server.node_id}",
        )
    box = SecretBox.from_key_file(config.master_key_path, create=not config.db_path.exists())
    return SqliteStore(
        config.db_path,
        box,
        durability=config.store.durability,
        commit_linger_s=config.store.commit_linger_ms / 1000,
    )
