"""The ``smsgate`` command: run the server and administer accounts, keys, templates, policy.

Administration commands work on the data directory's store directly, whether or not a server is
running on it (SQLite WAL lets both write); a running server sees changes within a second. Every
command resolves the data directory the same way (see :mod:`smsgate.config`); only ``serve`` and
``init`` create it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from smsgate.adapters.secret_files import SecretFileError
from smsgate.cli import (
    accounts,
    connectors,
    inbound,
    init,
    migrate,
    policy,
    review,
    send,
    serve,
    simulator,
    smpp,
)
from smsgate.cli.common import CliError, example
from smsgate.config import ConfigError, load_config

__all__ = ["main", "parse_args"]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # serve --workers passes them on
    if not hasattr(args, "run"):
        _parser().print_help()
        return 2
    try:
        config = load_config(
            Path(args.config) if args.config else None,
            data_dir=Path(args.data_dir) if args.data_dir else None,
            http_port=getattr(args, "http_port", None),
            smpp_port=getattr(args, "smpp_port", None),
            host=getattr(args, "host", None),
            workers=getattr(args, "workers", None),
            role=getattr(args, "role", None),
            node_id=getattr(args, "node_id", None),
            reuse_port=getattr(args, "reuse_port", None),
            store_url=getattr(args, "store", None),
            redis_url=getattr(args, "redis", None),
        )
        result: int = args.run(config, args)
        return result
    except (ConfigError, CliError, SecretFileError) as exc:
        print(f"smsgate: {exc}", file=sys.stderr)
        return 2


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line taken apart; a mistake exits with status 2 and the usage."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # ``sign ACTION Name=Value ...`` takes its parameters wherever they are: argparse stops
        # collecting a positional list at the first option.
        if not hasattr(args, "params") or any(a.startswith("-") or "=" not in a for a in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.params.extend(extra)
    return args


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="TOML configuration file (default: $SMSGATE_CONFIG)")
    common.add_argument(
        "--data-dir",
        help="data directory (default: $SMSGATE_DATA_DIR, else [server] data_dir of the "
        "configuration file, else ./smsgate-data)",
    )
    common.add_argument(
        "--store",
        metavar="URL",
        help="a PostgreSQL URL shared by several smsgate processes (default: $SMSGATE_STORE_URL, "
        "else [store] url, else the data directory's SQLite file)",
    )
    common.add_argument("--json", action="store_true", help="print JSON")
    parser = argparse.ArgumentParser(
        prog="smsgate",
        description="Self-hosted SMS platform, Alibaba Cloud SMS compatible.",
        **example(
            "serve",
            "accounts create --name demo --balance 100 --json",
            "send --to 6591234567 --text 'Your code is 1234'",
            "accounts create --help",
        ),
    )
    commands = parser.add_subparsers(title="commands")
    for module in (
        init,
        serve,
        simulator,
        send,
        accounts,
        review,
        policy,
        smpp,
        connectors,
        inbound,
        migrate,
    ):
        module.add_commands(commands, common)
    return parser
