#!/usr/bin/env python3
"""Set-up and everyday commands for smsgate, needing nothing but Python 3.11+.

    python3 dev.py run [serve options]   install into .venv (first time) and run smsgate
    python3 dev.py smsgate COMMAND ...   install into .venv (first time) and run any smsgate
                                         command, e.g. `python3 dev.py smsgate accounts list`
    python3 dev.py test [pytest options] install into .venv (first time), lint, type-check, test
    python3 dev.py bench-http [options]   run the HTTP load benchmark (server started for you)
    python3 dev.py bench-smpp [options]   run the SMPP load benchmark (server started for you)
    python3 dev.py bench-simulator [opts] the same load against `smsgate simulator` (started too)

The virtual environment is rebuilt when pyproject.toml changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".smsgate-installed"


def _run(*cmd: str | Path, quiet: bool = False) -> None:
    """Run ``cmd`` in the project folder; exit with its status if it fails. ``quiet`` sends its
    output to stderr, so that a command's own output (JSON, say) is all that stdout carries."""
    stdout = sys.stderr if quiet else None
    result = subprocess.run([str(c) for c in cmd], cwd=ROOT, check=False, stdout=stdout)
    if result.returncode != 0:
        sys.exit(result.returncode)


def ensure_venv() -> None:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    # Two commands started at once on a fresh clone (the server and the simulator, say): the
    # second waits for the first's install instead of using a half-made .venv.
    with _install_lock():
        if STAMP.exists() and STAMP.read_text() == digest:
            return
        if not (BIN / "python").exists():
            print("dev.py: creating .venv", file=sys.stderr, flush=True)
            venv.EnvBuilder(with_pip=True).create(VENV)
        print("dev.py: installing smsgate and its development tools into .venv", file=sys.stderr)
        _run(BIN / "python", "-m", "pip", "install", "-q", "--upgrade", "pip", quiet=True)
        _run(BIN / "python", "-m", "pip", "install", "-q", "-e", ".[dev]", quiet=True)
        STAMP.write_text(digest)


@contextlib.contextmanager
def _install_lock() -> Iterator[None]:
    """An exclusive lock on ``.venv.lock`` while installing (POSIX; elsewhere none)."""
    try:
        import fcntl  # noqa: PLC0415 - POSIX only
    except ImportError:
        yield
        return
    with (ROOT / ".venv.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def main() -> None:
    command, *rest = sys.argv[1:] or ["help"]
    if command == "run":
        ensure_venv()
        os.execv(BIN / "smsgate", [str(BIN / "smsgate"), "serve", *rest])
    elif command == "smsgate":
        ensure_venv()
        os.execv(BIN / "smsgate", [str(BIN / "smsgate"), *rest])
    elif command == "test":
        ensure_venv()
        _run(BIN / "ruff", "check", "src", "tests", "bench", "dev.py")
        _run(BIN / "ruff", "format", "--check", "src", "tests", "bench", "dev.py")
        _run(BIN / "mypy")
        _run(BIN / "python", "-m", "pytest", *rest)
    elif command == "bench-http":
        ensure_venv()
        _run(BIN / "python", "bench/http_send.py", *rest)
    elif command == "bench-smpp":
        ensure_venv()
        _run(BIN / "python", "bench/smpp_load.py", *rest)
    elif command == "bench-simulator":
        ensure_venv()
        _run(BIN / "python", "bench/simulator_smsc.py", *rest)
    else:
        print(__doc__)
        sys.exit(0 if command == "help" else 2)


if __name__ == "__main__":
    main()
