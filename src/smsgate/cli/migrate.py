"""``smsgate migrate``: PostgreSQL's schema migrations, and moving an embedded installation there.

- ``smsgate migrate`` applies the pending versioned migrations to the database of ``--store``
  (``SMSGATE_STORE_URL``, ``[store] url``). Servers apply them when they start too; this is for
  operators who make schema changes a deliberate step (several servers, a DBA).
- ``smsgate migrate --from DATA_DIR --to URL`` moves an embedded installation's SQLite database
  into an empty PostgreSQL database, in one transaction, verified before it commits
  (:mod:`smsgate.adapters.storage.transfer`). The SQLite database is locked meanwhile, and a
  server running on it is refused: a copy would miss what it writes afterwards.

**The master key.** AccessKey secrets and connector passwords move sealed, so the PostgreSQL
installation must use the source's ``master.key``. Its servers look for it in their data
directory: the one this command is given (``--data-dir``, ``SMSGATE_DATA_DIR``, ``[server]
data_dir``), else the source directory itself, which can then simply be kept as the data
directory. A key there already must be the same key (else the move is refused before anything
is copied); a missing one is copied there (mode 0600, written once) before the move starts.
The output names the file: every other machine of the installation needs a copy of it.

Output follows the other commands: a summary for people or ``--json`` on stdout; progress of a
large move goes to stderr, so that ``--json`` stays clean.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Final, TextIO
from urllib.parse import urlsplit, urlunsplit

from cryptography.exceptions import InvalidTag

from smsgate.adapters.secret_box import KEY_BYTES, SecretBox
from smsgate.adapters.secret_files import create_once, make_private_directory
from smsgate.adapters.storage.postgres.schema import MIGRATIONS, migrate
from smsgate.adapters.storage.transfer import (
    MoveResult,
    SourceError,
    SqliteSource,
    TargetNotEmptyError,
    Verification,
    VerificationError,
    move,
)
from smsgate.cli.common import CliError, Commands, example
from smsgate.cli.output import print_output
from smsgate.config import Config
from smsgate.domain.pricing import format_micros
from smsgate.ports.store import StoreError

__all__ = ["add_commands", "shown_url"]

_SCHEMES: Final = ("postgresql", "postgres")
_NO_URL: Final = (
    "smsgate migrate needs a PostgreSQL database: give --store postgresql://USER@HOST/DATABASE "
    "(or set SMSGATE_STORE_URL, or [store] url in the --config file); to move an embedded "
    "installation into one, give --from DATA_DIR --to postgresql://USER@HOST/DATABASE"
)
_NEXT: Final = (
    "start the servers with --store (SMSGATE_STORE_URL, [store] url) naming this database and "
    "with this master key in their data directory; never start a server on the SQLite database "
    "again: what it accepted would not be in PostgreSQL"
)


def _run(config: Config, args: argparse.Namespace) -> int:
    url = args.target or config.store.url
    if url and urlsplit(url).scheme not in _SCHEMES:
        raise CliError("--to must be a URL starting with postgresql:// or postgres://")
    if args.source is None:
        return _apply(url, args.json)
    if not url:
        raise CliError(
            "--from needs the PostgreSQL database to move into: give --to "
            "postgresql://USER@HOST/DATABASE"
        )
    return _move(config, Path(args.source), url, args.json)


# -- smsgate migrate ----------------------------------------------------------------------------


def _apply(url: str, as_json: bool) -> int:
    if not url:
        raise CliError(_NO_URL)
    try:
        applied = asyncio.run(migrate(url))
    except StoreError as exc:
        print(f"smsgate: {exc}", file=sys.stderr)
        return 1
    database, version = shown_url(url), MIGRATIONS[-1].version
    if as_json:
        print_output({"database": database, "applied": applied, "version": version}, True)
    elif applied:
        print(f"applied {', '.join(applied)} to {database}")
    else:
        print(f"{database} is current (schema {version}): nothing to apply")
    return 0


# -- smsgate migrate --from DATA_DIR --to URL ---------------------------------------------------


def _move(config: Config, source_dir: Path, url: str, as_json: bool) -> int:
    source_config = replace(config, server=replace(config.server, data_dir=source_dir))
    if not source_config.db_path.is_file():
        raise CliError(
            f"no smsgate database in {source_dir.resolve()} ({source_config.db_path.name}): "
            "--from names the data directory of the embedded installation"
        )
    key = _source_key(source_config.master_key_path)
    # Where the PostgreSQL installation's servers will look for the key (see the docstring).
    key_path = source_config.master_key_path
    if config.data_dir_source != Config().data_dir_source:
        key_path = config.master_key_path
    _check_key_destination(key_path, key)
    try:
        with SqliteSource(source_config.db_path) as source:
            _check_key_opens(source, key, source_config.master_key_path)
            # Before the move: a failure here copies nothing, and a key left by a move that
            # fails later is the right one for the next attempt.
            key_copied = _place_key(key_path, key)
            result = asyncio.run(move(source, url, progress=_Progress(sys.stderr)))
    except (SourceError, TargetNotEmptyError) as exc:
        raise CliError(str(exc)) from None
    except StoreError as exc:
        print(f"smsgate: {exc}; nothing was committed", file=sys.stderr)
        return 1
    except VerificationError as exc:
        report = _report(source_config.db_path, url, exc.verification)
        report.update(committed=False, mismatches=list(exc.verification.mismatches))
        print_output(report, as_json)
        print(
            "smsgate: the copy differs from the SQLite database (above); nothing was committed",
            file=sys.stderr,
        )
        return 1
    print_output(_success(source_config.db_path, url, result, key_path, key_copied), as_json)
    return 0


def _source_key(path: Path) -> bytes:
    if not path.is_file():
        raise CliError(
            f"no {path.name} in {path.parent.resolve()}: the secrets in its database are sealed "
            "with it; restore it from your backup first"
        )
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise CliError(f"{path} is {len(key)} bytes, not {KEY_BYTES}: restore it from your backup")
    return key


def _check_key_destination(key_path: Path, key: bytes) -> None:
    if key_path.is_file() and key_path.read_bytes() != key:
        raise CliError(
            f"{key_path} is another master key than the source's: the moved secrets would not "
            "open with it. Give --data-dir a directory without one (the source's key is copied "
            "there), or the source directory itself"
        )


def _check_key_opens(source: SqliteSource, key: bytes, key_path: Path) -> None:
    """The key that moves with the records must open them: a wrong one would only show when
    the first request is refused, after the move."""
    sample = source.sealed_secret()
    if sample is None:
        return
    try:
        SecretBox(key).open(sample[1])
    except (ValueError, InvalidTag):
        raise CliError(
            f"{key_path} does not open the secret of key {sample[0]} in {source.path}: it is not "
            "the master key this database was made with; restore that one from your backup"
        ) from None


def _place_key(key_path: Path, key: bytes) -> bool:
    """Copy the key to where the PostgreSQL installation will read it; True if copied."""
    if key_path.is_file():
        return False
    make_private_directory(key_path.parent)
    return create_once(key_path, key)


def _success(
    db_path: Path, url: str, result: MoveResult, key_path: Path, key_copied: bool
) -> dict[str, Any]:
    messages = result.copied["messages"]
    report = _report(db_path, url, result.verification)
    report.update(
        committed=True,
        migrations_applied=result.applied or "none (the schema was current)",
        master_key=str(key_path.resolve()),
        master_key_copied=key_copied,
        rows=sum(result.copied.values()),
        messages=messages,
        seconds=round(result.total_s, 2),
        messages_per_s=round(messages / result.copy_s) if messages else None,
        next=_NEXT,
    )
    # The per-table and per-account tables read best last.
    report["tables"] = report.pop("tables")
    report["accounts"] = report.pop("accounts")
    return report


def _report(db_path: Path, url: str, verification: Verification) -> dict[str, Any]:
    source, target = verification.source, verification.target
    return {
        "from": str(db_path.resolve()),
        "to": shown_url(url),
        "verified": verification.ok,
        "tables": [
            {
                "table": table,
                "sqlite": rows,
                "postgresql": target.rows.get(table),
                "same": rows == target.rows.get(table),
            }
            for table, rows in source.rows.items()
        ],
        "accounts": [
            {
                "account_id": account_id,
                "balance": format_micros(micros),
                "messages": source.account_messages(account_id),
                "same": micros == target.balances.get(account_id)
                and source.account_messages(account_id) == target.account_messages(account_id),
            }
            for account_id, micros in sorted(source.balances.items())
        ],
    }


def shown_url(url: str) -> str:
    """``url`` without its password (in the user part or a ``password=`` parameter)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:***@{host}"
    query = re.sub(r"(password=)[^&]*", r"\1***", parts.query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


class _Progress:
    """Progress lines on ``stream`` while a table copies: at most one every ``interval_s``, and
    none for a table copied faster than that (a small installation's move prints nothing)."""

    def __init__(self, stream: TextIO, interval_s: float = 2.0) -> None:
        self._stream = stream
        self._interval_s = interval_s
        self._table = ""
        self._started = self._shown = 0.0

    def __call__(self, table: str, done: int, total: int) -> None:
        now = time.monotonic()
        if table != self._table:
            self._table, self._started, self._shown = table, now, now
            return
        if now - self._shown < self._interval_s and (done < total or self._shown == self._started):
            return
        self._shown = now
        rate = done / max(now - self._started, 1e-9)
        print(
            f"smsgate migrate: {table}: {done:,} of {total:,} rows ({rate:,.0f} rows/s)",
            file=self._stream,
            flush=True,
        )


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser(
        "migrate",
        parents=[common],
        help="apply PostgreSQL's schema migrations, or move a data directory into PostgreSQL",
        description="Without --from: apply the pending schema migrations to the PostgreSQL "
        "database of --store (servers also apply them when they start). With --from DATA_DIR: "
        "move that embedded installation's SQLite database (accounts, balances, keys, policy, "
        "messages, receipts and pushes owed) into an empty PostgreSQL database in one "
        "transaction, and verify row counts, balances and messages per status before it "
        "commits. Stop the server on DATA_DIR first: a running one is refused. The PostgreSQL "
        "installation must use DATA_DIR's master.key: it is copied to --data-dir if given.",
        **example(
            "--store postgresql://smsgate@db.example.com/smsgate",
            "--from /var/lib/smsgate --to postgresql://smsgate@db.example.com/smsgate",
        ),
    )
    p.add_argument(
        "--from",
        dest="source",
        metavar="DATA_DIR",
        help="the data directory of the embedded installation to move (its server stopped)",
    )
    p.add_argument(
        "--to",
        dest="target",
        metavar="URL",
        help="the PostgreSQL database (default: --store, $SMSGATE_STORE_URL, [store] url); a "
        "move needs it empty",
    )
    p.set_defaults(run=_run)
