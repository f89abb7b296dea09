"""The README's commands run as written, so the README cannot drift from the code.

Every command line of a fenced shell block that starts with the CLI (``python3 dev.py smsgate``)
runs, in README order, against a running server and a temporary data directory, with the
environment a reader would have (``SMSGATE_CONFIG`` naming a configuration file with that data
directory and the server's port). Placeholders are replaced by real values learnt on the way:
``ACCOUNT_ID`` and ``ACCESS_KEY_ID`` from the first account a command created (or a new one),
``MESSAGE_ID`` from the first message sent. Each must exit 0.

Skipped, with the reason: ``serve`` (it runs until stopped; the test's own server stands for it).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.interop.conftest import SIMULATOR_CONFIG, ServerProcess, run_cli

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CLI = ("python3", "dev.py", "smsgate")
SHELL_BLOCKS = {"sh", "shell", "bash", "console"}
#: Subcommands that cannot run here, and why.
SKIPPED = {
    "serve": "runs until stopped; the test's own server stands for it",
    "simulator": "runs until stopped; tests/interop/test_simulator_cli.py runs it",
}


def fenced_shell_lines(text: str) -> Iterator[str]:
    """The command lines of the fenced shell blocks (continuations joined, prompts dropped)."""
    in_block, pending = False, ""
    for raw in text.splitlines():
        fence = raw.strip()
        if fence.startswith("```"):
            in_block = not in_block and fence[3:].strip().lower() in SHELL_BLOCKS
            continue
        if not in_block:
            continue
        line = pending + raw.strip().removeprefix("$ ")
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if line:
            yield line


def readme_commands() -> list[list[str]]:
    words = [shlex.split(line, comments=True) for line in fenced_shell_lines(README.read_text())]
    return [w for w in words if tuple(w[: len(CLI)]) == CLI]


COMMANDS = readme_commands()


@dataclass
class Reader:
    """A reader following the README: their server, environment and what they learnt so far."""

    server: ServerProcess
    workdir: Path
    env: dict[str, str]
    learnt: dict[str, str] = field(default_factory=dict)

    def run(self, words: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "smsgate.cli", *words],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )

    def fill(self, word: str) -> str:
        for name in re.findall(r"ACCOUNT_ID|ACCESS_KEY_ID|MESSAGE_ID", word):
            if name not in self.learnt and name != "MESSAGE_ID":
                self.learn(run_cli(self.server.data_dir, "accounts", "create", "--name", "r"))
            word = word.replace(name, self.learnt[name])
        return word

    def learn(self, output: object) -> None:
        if not isinstance(output, dict):
            return
        if "account_id" in output and "access_key_id" in output:
            self.learnt.setdefault("ACCOUNT_ID", str(output["account_id"]))
            self.learnt.setdefault("ACCESS_KEY_ID", str(output["access_key_id"]))
        if "MessageId" in output:
            self.learnt.setdefault("MESSAGE_ID", str(output["MessageId"]))


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reader]:
    base = tmp_path_factory.mktemp("readme")
    server = ServerProcess(base / "data", SIMULATOR_CONFIG + "\n[server]\nrefresh_s = 0\n")
    server.start()
    config = base / "smsgate.toml"
    config.write_text(
        f'[server]\ndata_dir = "{server.data_dir}"\nhttp_port = {server.port}\n'
        f"smpp_port = {server.smpp_port}\n"
    )
    workdir = base / "work"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGATE_")}
    env["SMSGATE_CONFIG"] = str(config)
    yield Reader(server, workdir, env)
    server.stop()


def test_the_readme_has_cli_commands_to_run() -> None:
    subcommands = {words[len(CLI)] for words in COMMANDS}
    assert {"accounts", "connectors", "init", "routes", "send", "sign", "smpp"} <= subcommands


def test_the_readme_writes_the_cli_one_way() -> None:
    """Every command is ``python3 dev.py smsgate ...``: no bare ``smsgate`` or venv path."""
    text = README.read_text()
    stale = [
        line
        for line in fenced_shell_lines(text)
        if line.startswith(("smsgate ", ".venv/bin/smsgate", "python -m smsgate"))
    ]
    stale += re.findall(r"`(?:\.venv/bin/)?smsgate [a-z][^`]*`", text)
    assert stale == []


@pytest.mark.parametrize("words", COMMANDS, ids=lambda w: " ".join(w[len(CLI) :])[:60])
def test_a_readme_command_runs(words: list[str], reader: Reader) -> None:
    args = words[len(CLI) :]
    if args and args[0] in SKIPPED:
        pytest.skip(SKIPPED[args[0]])

    done = reader.run([reader.fill(word) for word in args])

    assert done.returncode == 0, f"{shlex.join(words)}\n{done.stdout}\n{done.stderr}"
    if "--json" in args or args[0] == "send":
        reader.learn(json.loads(done.stdout))


def test_dev_py_smsgate_runs_the_venvs_cli_with_the_arguments(tmp_path: Path) -> None:
    """``python3 dev.py smsgate ...`` execs ``.venv/bin/smsgate`` with the rest of the line,
    printing nothing of its own on stdout (so that ``--json`` output stays JSON)."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "dev.py", project / "dev.py")
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    bin_dir = project / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    fake = bin_dir / "smsgate"
    fake.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    fake.chmod(0o755)
    digest = hashlib.sha256((project / "pyproject.toml").read_bytes()).hexdigest()
    (project / ".venv" / ".smsgate-installed").write_text(digest)  # installed: no pip

    done = subprocess.run(
        [sys.executable, "dev.py", "smsgate", "accounts", "list", "--json"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["accounts", "list", "--json"]
