"""The PostgreSQL store: the store port for several smsgate processes sharing one database.

``PostgresStore(url, box)`` is a drop-in for ``SqliteStore``; ``migrate(url)`` brings a
database's schema up to date (what ``smsgate migrate`` will call). See ``store.py`` for the
composition, ``writer.py`` for the group commit and what happens when a COMMIT's answer is
lost, ``messages.py`` for exact money across processes, ``callbacks.py`` for claims.
"""

from smsgate.adapters.storage.postgres.schema import MIGRATIONS, migrate
from smsgate.adapters.storage.postgres.store import Durability, PostgresStore
from smsgate.adapters.storage.postgres.writer import WriterStats

__all__ = ["MIGRATIONS", "Durability", "PostgresStore", "WriterStats", "migrate"]
