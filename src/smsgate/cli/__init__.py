"""The ``smsgate`` command: run the server and administer accounts, keys, templates, policy.

Administration commands work on the data directory's store directly, whether or not a server is
running on it (SQLite WAL lets both write); a running server sees changes within a second.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from smsgate.adapters.secret_files import SecretFileError
from smsgate.cli import accounts, policy, review, serve, smpp
from smsgate.cli.common import CliError
from smsgate.config import ConfigError, load_config

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        config = load_config(
            Path(args.config) if args.config else None,
            data_dir=Path(args.data_dir) if args.data_dir else None,
            http_port=getattr(args, "http_port", None),
            smpp_port=getattr(args, "smpp_port", None),
            host=getattr(args, "host", None),
        )
        result: int = args.run(config, args)
        return result
    except (ConfigError, CliError, SecretFileError) as exc:
        print(f"smsgate: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="TOML configuration file")
    common.add_argument("--data-dir", help="data directory (default: ./smsgate-data)")
    common.add_argument("--json", action="store_true", help="print JSON")
    parser = argparse.ArgumentParser(
        prog="smsgate", description="Self-hosted SMS platform, Alibaba Cloud SMS compatible."
    )
    commands = parser.add_subparsers(title="commands")
    for module in (serve, accounts, review, policy, smpp):
        module.add_commands(commands, common)
    return parser
