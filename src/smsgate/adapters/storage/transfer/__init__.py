"""Moving an embedded installation (SQLite) into PostgreSQL: ``smsgate migrate --from``.

``tables`` decides what moves and how each column's type maps; ``source`` holds the SQLite
database so that nothing writes it during the move; ``target`` copies into PostgreSQL in one
transaction; ``verify`` compares both sides (rows, balances, messages per status, policy
versions) before that transaction commits.
"""

from smsgate.adapters.storage.transfer.source import SourceError, SourceInUseError, SqliteSource
from smsgate.adapters.storage.transfer.tables import SKIPPED, TABLES, TableCopy
from smsgate.adapters.storage.transfer.target import (
    MoveResult,
    Progress,
    TargetNotEmptyError,
    VerificationError,
    move,
)
from smsgate.adapters.storage.transfer.verify import (
    Summary,
    Verification,
    compare,
    source_summary,
    target_summary,
    verify,
)

__all__ = [
    "SKIPPED",
    "TABLES",
    "MoveResult",
    "Progress",
    "SourceError",
    "SourceInUseError",
    "SqliteSource",
    "Summary",
    "TableCopy",
    "TargetNotEmptyError",
    "Verification",
    "VerificationError",
    "compare",
    "move",
    "source_summary",
    "target_summary",
    "verify",
]
