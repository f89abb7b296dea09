"""Load benchmark: signed SendMessageToGlobe requests from N concurrent clients.

Starts ``smsgate serve`` on a fresh data directory (unless ``--endpoint`` is given), creates an
account, then sends ``--messages`` requests from ``--concurrency`` clients, each request V1-signed
with its own nonce exactly as aliyun-python-sdk-core signs them. Prints accepted requests/s,
latency percentiles, answers by code, and the server's resident memory sampled during the run.

    python3 dev.py bench-http --messages 200000 --concurrency 64

Scale-out: ``--workers N`` runs ``serve --workers N``; ``--postgres ADMIN_URL`` puts the server
on a new database of that PostgreSQL server (dropped after) and ``--redis URL`` shares its
limits and nonces there (both needed for N > 1). Server CPU and RSS are the whole process tree's.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import multiprocessing
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit


def pct(value: str) -> str:
    return quote(value, safe="~")


def sign_v1(params: dict[str, str], secret: str, method: str = "POST") -> str:
    canonical = "&".join(f"{pct(k)}={pct(v)}" for k, v in sorted(params.items()))
    to_sign = f"{method}&%2F&{pct(canonical)}"
    digest = hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def body_for(key_id: str, secret: str, to: str, i: int) -> str:
    params = {
        "Action": "SendMessageToGlobe",
        "Version": "2018-05-01",
        "Format": "JSON",
        "RegionId": "ap-southeast-1",
        "AccessKeyId": key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": uuid.uuid4().hex,
        "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "To": to,
        "Message": f"Your verification code is {i % 1_000_000:06d}",
    }
    params["Signature"] = sign_v1(params, secret)
    return "&".join(f"{pct(k)}={pct(v)}" for k, v in params.items())


async def client_loop(
    host: str,
    port: int,
    key_id: str,
    secret: str,
    counter: list[int],
    total: int,
    latencies: list[float],
    codes: Counter[str],
    accepted_latencies: list[float],
    backoff_s: float = 0.0,
) -> None:
    """One client: one keep-alive connection, one request at a time, each freshly signed.

    Raw asyncio streams rather than an HTTP client library, so that the load generator, which
    shares this machine's two cores with the server, spends as little CPU as it can.
    """
    reader, writer = await asyncio.open_connection(host, port)
    head = (
        f"POST / HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
    )
    try:
        while counter[0] < total:
            i = counter[0]
            counter[0] += 1
            to = f"659{1 + (i * 7919) % 8}{(i * 104_729) % 1_000_000:06d}"  # valid SG mobiles
            data = body_for(key_id, secret, to, i).encode()
            started = time.perf_counter()
            writer.write(f"{head}Content-Length: {len(data)}\r\n\r\n".encode() + data)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            payload = await reader.readexactly(length)
            elapsed = time.perf_counter() - started
            latencies.append(elapsed)
            status = int(status_line.split()[1])
            if status == 200:
                code = json.loads(payload)["ResponseCode"]
                codes[code] += 1
                if code == "OK":
                    accepted_latencies.append(elapsed)
            else:
                try:
                    code = json.loads(payload).get("Code")
                except ValueError:  # not an answer of ours: aiohttp's own plain text
                    code = payload[:60].decode(errors="replace")
                codes[f"HTTP {status} {code}"] += 1
                if status == 429 and backoff_s:  # as a polite client does before retrying
                    await asyncio.sleep(backoff_s)
    finally:
        writer.close()


def worker(
    url: str,
    key_id: str,
    secret: str,
    total: int,
    concurrency: int,
    out: multiprocessing.Queue,
    backoff_s: float = 0.0,
) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    host, port = url.split("//")[1].rstrip("/").split(":")

    async def run() -> tuple[list[float], Counter[str], float, list[float]]:
        latencies: list[float] = []
        accepted: list[float] = []
        codes: Counter[str] = Counter()
        counter = [0]
        started = time.perf_counter()
        await asyncio.gather(
            *(
                client_loop(
                    host,
                    int(port),
                    key_id,
                    secret,
                    counter,
                    total,
                    latencies,
                    codes,
                    accepted,
                    backoff_s,
                )
                for _ in range(concurrency)
            )
        )
        return latencies, codes, time.perf_counter() - started, accepted

    out.put(asyncio.run(run()))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    return _cpu_ticks(_stat_fields(Path(f"/proc/{pid}/stat"))) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds(pid: int) -> float:
    """User + system CPU time the live children of a process (the server's connector
    process) have used so far."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = _stat_fields(stat)
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended meanwhile
        if fields[1] == str(pid):
            total += _cpu_ticks(fields)
    return total / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and of its live descendants (``--workers``: the
    supervisor, its server processes and their connector processes)."""
    ticks: dict[int, tuple[int, int]] = {}  # pid -> (ppid, ticks)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = _stat_fields(stat)
        except (FileNotFoundError, ProcessLookupError):
            continue
        ticks[int(stat.parent.name)] = (int(fields[1]), _cpu_ticks(fields))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += ticks.get(current, (0, 0))[1]
        todo.extend(child for child, (parent, _) in ticks.items() if parent == current)
    return total / os.sysconf("SC_CLK_TCK")


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and its direct children (the servers of ``--workers``)."""
    total = rss_mb(pid)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if _stat_fields(stat)[1] == str(pid):
                total += rss_mb(int(stat.parent.name))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def _stat_fields(stat: Path) -> list[str]:
    """The fields of a /proc/PID/stat after the command name (state first, then the ppid)."""
    return stat.read_text().rsplit(")", 1)[1].split()


def _cpu_ticks(fields: list[str]) -> int:
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_server(
    data_dir: Path,
    port: int,
    durability: str,
    extra_args: tuple[str, ...] = (),
    ready: str = "listening on",
    extra_config: str = "",
    preexec: Callable[[], None] | None = None,
) -> tuple[subprocess.Popen[str], str]:
    """``smsgate serve``; the process and the first line of its output containing ``ready``."""
    config = data_dir.parent / "bench.toml"
    config.write_text(
        f'[store]\ndurability = "{durability}"\n[simulator]\ndelay_ms = 50\n{extra_config}'
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smsgate.cli",
            "serve",
            "--config",
            str(config),
            "--data-dir",
            str(data_dir),
            "--http-port",
            str(port),
            *extra_args,
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=preexec,  # noqa: PLW1509 - only sets a resource limit
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if ready in line:
            return proc, line
    raise SystemExit("server did not start")


def lift_number_limits(data_dir: Path, account_id: str) -> None:
    """Per-number daily counters cost memory per distinct number until UTC midnight; a campaign
    account can switch them off, and then the server keeps no per-number state at all."""
    limits = '{"NOTIFY": {"per_day": null}, "per_number_per_day": null}'
    subprocess.run(
        [
            sys.executable,
            "-m",
            "smsgate.cli",
            "settings",
            account_id,
            "--limits",
            limits,
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        check=True,
    )


def create_account(data_dir: Path) -> tuple[str, str, str]:
    subprocess.run(
        [sys.executable, "-m", "smsgate.cli", "init", "--data-dir", str(data_dir)],
        capture_output=True,
        check=False,  # smsgate before 'init' created the data directory on first use
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "smsgate.cli",
            "accounts",
            "create",
            "--name",
            "bench",
            "--balance",
            "1000000",
            "--data-dir",
            str(data_dir),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    created = json.loads(out.stdout)
    return created["account_id"], created["access_key_id"], created["access_key_secret"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--procs", type=int, default=1, help="load-generator processes")
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--durability", default="full", choices=["full", "normal"])
    parser.add_argument("--endpoint", help="use a running server (then give --key and --secret)")
    parser.add_argument(
        "--no-number-limits",
        action="store_true",
        help="switch off the account's per-number daily limits (no per-number state)",
    )
    parser.add_argument("--key")
    parser.add_argument("--secret")
    parser.add_argument(
        "--backoff-ms",
        type=float,
        default=0.0,
        help="a client waits this long after a 429 before its next request (0: at once)",
    )
    parser.add_argument(
        "--server-config", default="", help="TOML added to the server's configuration"
    )
    parser.add_argument("--workers", type=int, default=1, help="server processes (serve --workers)")
    parser.add_argument(
        "--postgres",
        metavar="ADMIN_URL",
        help="run the server on a new PostgreSQL database of this server (dropped after)",
    )
    parser.add_argument("--redis", metavar="URL", help="share limits and nonces in this Redis")
    args = parser.parse_args()
    database = scale_out_environment(args)

    tmp = Path(tempfile.mkdtemp(prefix="smsgate-bench-"))
    server = None
    try:
        if args.endpoint:
            url, key_id, secret = f"http://{args.endpoint}/", args.key, args.secret
        else:
            data_dir = tmp / "data"
            account_id, key_id, secret = create_account(data_dir)
            if args.no_number_limits:
                lift_number_limits(data_dir, account_id)
            server, _ = start_server(
                data_dir,
                args.port,
                args.durability,
                ("--smpp-port", "0", "--workers", str(args.workers)),
                extra_config=args.server_config.replace("\\n", "\n"),
            )
            url = f"http://127.0.0.1:{args.port}/"
        out: multiprocessing.Queue = multiprocessing.Queue()
        per_proc = args.messages // args.procs
        procs = [
            multiprocessing.Process(
                target=worker,
                args=(
                    url,
                    key_id,
                    secret,
                    per_proc,
                    args.concurrency // args.procs,
                    out,
                    args.backoff_ms / 1000,
                ),
            )
            for _ in range(args.procs)
        ]
        rss: list[float] = []
        cpu_before = tree_cpu_seconds(server.pid) if server is not None else 0.0
        for p in procs:
            p.start()
        results = []
        while len(results) < len(procs):
            with contextlib.suppress(Exception):
                results.append(out.get(timeout=2))
            if server is not None:
                rss.append(tree_rss_mb(server.pid))
        for p in procs:
            p.join()
        server_cpu = tree_cpu_seconds(server.pid) - cpu_before if server is not None else 0.0
        latencies = sorted(lat for r in results for lat in r[0])
        codes: Counter[str] = Counter()
        for r in results:
            codes.update(r[1])
        elapsed = max(r[2] for r in results)
        ok = codes.get("OK", 0)

        def q(p: float) -> float:
            return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

        print(f"requests      {len(latencies)} in {elapsed:.1f} s, concurrency {args.concurrency}")
        print(f"accepted/s    {ok / elapsed:,.0f}  (durability={args.durability})")
        print(
            f"latency ms    p50 {q(0.50):.1f}  p90 {q(0.90):.1f}  p99 {q(0.99):.1f}  "
            f"max {latencies[-1] * 1000:.1f}"
        )
        accepted = sorted(lat for r in results for lat in r[3])
        if accepted and len(accepted) < len(latencies):
            at = [
                accepted[min(len(accepted) - 1, int(p * len(accepted)))] * 1000 for p in (0.5, 0.99)
            ]
            print(f"accepted ms   p50 {at[0]:.1f}  p99 {at[1]:.1f}  (OK answers only)")
        print(f"answers       {dict(codes)}")
        if server is not None:
            print(
                f"server CPU    {server_cpu:.1f} s = {server_cpu / len(latencies) * 1e6:.0f} us "
                f"per request ({server_cpu / elapsed * 100:.0f}% of one core)"
            )
        if rss:
            step = max(1, len(rss) // 10)
            print(f"server RSS MB {' '.join(f'{v:.0f}' for v in rss[::step])} (end {rss[-1]:.0f})")
    finally:
        if server is not None:
            server.terminate()
            server.wait(60)
        shutil.rmtree(tmp, ignore_errors=True)
        if database is not None:
            drop_database(*database)


def scale_out_environment(args: argparse.Namespace) -> tuple[str, str] | None:
    """Point the server (and the CLI that makes its account) at a new PostgreSQL database and
    at Redis, through the environment; returns (admin URL, database) to drop after."""
    if args.redis:
        os.environ["SMSGATE_REDIS_URL"] = args.redis
        args.server_config += f'\n[redis]\nprefix = "smsgate-bench:{secrets.token_hex(4)}:"\n'
    if not args.postgres:
        return None
    import asyncpg

    name = f"smsgate_bench_{secrets.token_hex(4)}"

    async def create() -> None:
        conn = await asyncpg.connect(args.postgres)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    parts = urlsplit(args.postgres)
    os.environ["SMSGATE_STORE_URL"] = urlunsplit(parts._replace(path="/" + name))
    return args.postgres, name


def drop_database(admin_url: str, name: str) -> None:
    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
