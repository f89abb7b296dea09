"""Opening the store of a data directory: shared by the server and the CLI.

Kept apart from the composition root so that administration commands start quickly: they need
the store, not the doors, the numbering data or the event-loop machinery of a server.
"""

from __future__ import annotations

from smsgate.adapters.secret_box import SecretBox
from smsgate.adapters.secret_files import make_private_directory
from smsgate.adapters.storage.sqlite import SqliteStore
from smsgate.config import Config, ConfigError

__all__ = ["open_store"]


def open_store(config: Config) -> SqliteStore:
    """The store of a data directory (not started).

    A new master key is made only for a new database: one that exists holds secrets sealed with
    the old key, and a fresh key would silently make them unreadable."""
    if config.store.url:
        raise ConfigError("[store] url: the PostgreSQL store is not in this build yet")
    make_private_directory(config.server.data_dir)
    box = SecretBox.from_key_file(config.master_key_path, create=not config.db_path.exists())
    return SqliteStore(
        config.db_path,
        box,
        durability=config.store.durability,
        commit_linger_s=config.store.commit_linger_ms / 1000,
    )
