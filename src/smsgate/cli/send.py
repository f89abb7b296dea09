"""``smsgate send`` and ``smsgate sign``: the HTTP API without an SDK.

Both sign V1 requests with an AccessKey (given, in the environment, or an account's first enabled
key from the data directory) and go through the server's public API, never around it: ``send``
prints the JSON answer a client gets, ``sign`` prints a signed URL (or curl command) to fetch.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime

from smsgate.adapters.storage.factory import open_store
from smsgate.cli.common import CliError, Commands, example, require_data_dir, server_url
from smsgate.cli.signer import DEFAULT_VERSION, curl_command, query_string, sign_v1
from smsgate.config import Config, access_key_from_environment

__all__ = ["add_commands"]

_TIMEOUT_S = 30.0


def _send(config: Config, args: argparse.Namespace) -> int:
    params = {
        "Action": "SendMessageToGlobe",
        "Version": DEFAULT_VERSION,
        "To": args.to,
        "Message": args.text,
    }
    if args.sender:
        params["From"] = args.sender
    if args.type:
        params["Type"] = args.type
    key_id, secret = _access_key(config, args)
    signed = _sign("POST", params, key_id, secret)
    status, body = _post(_endpoint(config, args), query_string(signed).encode())
    try:
        answer = json.loads(body)
    except ValueError:
        print(body.decode("utf-8", "replace"))
        return 1
    print(json.dumps(answer, indent=2, ensure_ascii=False))
    if status != 200:
        print(f"smsgate: HTTP {status}", file=sys.stderr)
    ok = status == 200 and "OK" in (answer.get("ResponseCode"), answer.get("Code"))
    return 0 if ok else 1


def _sign_command(config: Config, args: argparse.Namespace) -> int:
    params = {"Action": args.action, "Version": args.version}
    for pair in args.params:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CliError(f"parameters are Name=Value, not {pair!r}")
        params[name] = value
    key_id, secret = _access_key(config, args)
    url = f"{_endpoint(config, args)}?{query_string(_sign('GET', params, key_id, secret))}"
    print(curl_command(url) if args.curl else url)
    return 0


def _sign(method: str, params: dict[str, str], key_id: str, secret: str) -> dict[str, str]:
    return sign_v1(method, params, key_id, secret, now=datetime.now(UTC), nonce=str(uuid.uuid4()))


def _endpoint(config: Config, args: argparse.Namespace) -> str:
    """``--endpoint``, else the configured HTTP port on this machine."""
    return server_url(config, args.endpoint)


def _post(url: str, form: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(  # noqa: S310 - the scheme is http(s), checked above
        url,
        data=form,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:  # noqa: S310
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:  # a gateway error: its body is the answer
        with exc:
            return exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CliError(
            f"cannot reach {url}: {reason}; is the server running (smsgate serve)? "
            "Give another address with --endpoint"
        ) from None


def _access_key(config: Config, args: argparse.Namespace) -> tuple[str, str]:
    """The flags' pair, else ``--account``'s first enabled key, else the environment's pair,
    else the first enabled key of the data directory's only account."""
    if args.access_key_id or args.access_key_secret:
        if not (args.access_key_id and args.access_key_secret):
            raise CliError("--access-key-id and --access-key-secret go together")
        return args.access_key_id, args.access_key_secret
    if args.account is None:
        from_env = access_key_from_environment()
        if from_env is not None:
            return from_env
    require_data_dir(config)
    return asyncio.run(_key_from_store(config, args.account))


async def _key_from_store(config: Config, account_id: str | None) -> tuple[str, str]:
    store = open_store(config)
    await store.start()
    try:
        if account_id is None:
            accounts = await store.list_accounts()
            if len(accounts) != 1:
                where = config.server.data_dir.resolve()
                raise CliError(
                    f"{len(accounts)} accounts in {where}: "
                    + (
                        "choose one with --account ID (smsgate accounts list)"
                        if accounts
                        else "create one with smsgate accounts create --name demo --balance 100"
                    )
                )
            account_id = accounts[0].id
        elif await store.get_account(account_id) is None:
            raise CliError(f"no account {account_id}")
        keys = [k for k in await store.list_keys(account_id) if k.enabled]
        if not keys:
            raise CliError(
                f"account {account_id} has no enabled AccessKey: smsgate keys create {account_id}"
            )
        key = min(keys, key=lambda k: (k.created_at, k.id))
        return key.id, key.secret
    finally:
        await store.close()


def _client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint", help="the server's URL (default: http://127.0.0.1:<configured http_port>)"
    )
    parser.add_argument(
        "--account", help="use this account's first enabled AccessKey (default: the only account)"
    )
    parser.add_argument(
        "--access-key-id", help="sign with this AccessKey (default: $SMSGATE_ACCESS_KEY_ID)"
    )
    parser.add_argument(
        "--access-key-secret", help="its secret (default: $SMSGATE_ACCESS_KEY_SECRET)"
    )


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser(
        "send",
        parents=[common],
        help="send a message through the HTTP API (SendMessageToGlobe) and print the answer",
        description="Send one message through the running server's HTTP API, signed like an "
        "SDK signs it, and print the JSON answer. Exit status 0 when it is accepted.",
        **example(
            "--to 6591234567 --text 'Your code is 1234' --from Acme",
            "--to 6591234567 --text hello --account ACCOUNT_ID --endpoint http://127.0.0.1:9000",
        ),
    )
    p.add_argument("--to", required=True, help="the number, with its country code")
    p.add_argument("--text", required=True, help="the message")
    p.add_argument("--from", dest="sender", help="sender ID")
    p.add_argument("--type", choices=["NOTIFY", "MKT", "OTP"], help="message type")
    _client_options(p)
    p.set_defaults(run=_send)

    p = commands.add_parser(
        "sign",
        parents=[common],
        help="print a signed V1 URL (or curl command) for any action",
        description="Print a URL signed with V1 (HMAC-SHA1) for ACTION and its parameters; "
        "fetch it with a GET within 15 minutes, once (its nonce is then used).",
        **example(
            "SendMessageToGlobe To=6591234567 'Message=Your code is 1234' --curl",
            "QueryMessage MessageId=1578161779362496512",
            "QuerySendDetails --version 2017-05-25 PhoneNumber=6591234567 SendDate=20261203 "
            "PageSize=10 CurrentPage=1",
        ),
    )
    p.add_argument("action", help="e.g. SendMessageToGlobe, QueryMessage")
    p.add_argument("params", nargs="*", metavar="Name=Value", help="the action's parameters")
    p.add_argument("--version", default=DEFAULT_VERSION, help=f"API version ({DEFAULT_VERSION})")
    p.add_argument("--curl", action="store_true", help="print a curl command")
    _client_options(p)
    p.set_defaults(run=_sign_command)
