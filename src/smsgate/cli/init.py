"""``smsgate init``: create the data directory, its master key, admin token and database.

The one administration command allowed to create a data directory (``serve`` creates it too), so
that a first-time user can set one up and create credentials before starting the server, and a
typo in ``--data-dir`` is an error everywhere else rather than a new, empty directory.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from smsgate.adapters.secret_files import load_or_create_token
from smsgate.adapters.storage.factory import open_store
from smsgate.cli.common import Commands, example
from smsgate.cli.output import print_output
from smsgate.config import Config

__all__ = ["add_commands"]


def _init(config: Config, args: argparse.Namespace) -> int:
    data_dir = config.server.data_dir
    paths = {
        "data_dir": data_dir,
        "database": config.db_path,
        "master_key": config.master_key_path,
        "admin_token": config.admin_token_path,
    }
    existed = {name: path.exists() for name, path in paths.items()}
    asyncio.run(_create_database(config))
    load_or_create_token(config.admin.token, config.admin_token_path)
    result: dict[str, Any] = {name: str(path.resolve()) for name, path in paths.items()}
    if config.admin.token:
        result["admin_token"] = "set in the configuration file"  # noqa: S105 - a place
        existed["admin_token"] = True
    created = [name for name, was_there in existed.items() if not was_there]
    result["created"] = created or "nothing: already initialised"
    print_output(result, args.json)
    return 0


async def _create_database(config: Config) -> None:
    store = open_store(config)  # creates the directory and the master key
    await store.start()  # creates the schema
    await store.close()


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser(
        "init",
        parents=[common],
        help="create the data directory (master key, admin token, database)",
        description="Create the data directory with its master key, admin token and database, "
        "and print where they are. Safe to run again: it creates only what is missing.",
        **example("", "--data-dir /var/lib/smsgate --json"),
    )
    p.set_defaults(run=_init)
