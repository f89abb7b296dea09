"""``smsgate connectors`` and ``smsgate routes``: upstream SMSCs and which messages take them.

Both write policy documents through :class:`~smsgate.service.connector_admin.ConnectorAdmin`, as
the admin API does; a running server applies them within ``refresh_s`` (an added connector binds,
a removed one drains). A connector's password is sealed with the data directory's master key
before it is stored and is never printed. ``connectors list`` adds each connector's live state
(binds, in flight, throughput) from the running server's admin API, found as ``smsgate send``
finds the server; without an answer it says so and lists the settings alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from smsgate.adapters.secret_box import SecretBox
from smsgate.cli.common import CliError, Commands, Tools, example, server_url, with_store
from smsgate.config import Config
from smsgate.domain.carrier_receipts import ID_FORMATS
from smsgate.domain.connectors import BIND_MODES, LONG_METHODS, TEXT_CODINGS
from smsgate.service.connector_admin import ConnectorAdmin, Live

__all__ = ["add_commands"]

_TIMEOUT_S = 5.0
#: ``connectors add`` flags that map one to one onto a connector setting (dest = setting).
_SETTINGS = (
    "host", "port", "system_id", "system_type", "bind_mode", "binds", "window", "tps",
    "enquire_link_s", "reconnect_initial_s", "reconnect_max_s", "response_timeout_s",
    "source_ton", "source_npi", "text_coding", "long_method", "receipt_ids",
)  # fmt: skip
_ROUTE_FIELDS = ("connector", "country", "prefix", "network", "account", "sender")

Work = Callable[[ConnectorAdmin, Config, argparse.Namespace], Coroutine[Any, Any, Any]]


def _with_admin(work: Work) -> Callable[[Config, argparse.Namespace], int]:
    """Run ``work`` with connector administration over the data directory's store, sealing with
    its master key (which exists once the store is open)."""

    def run(config: Config, args: argparse.Namespace) -> int:
        async def with_tools(tools: Tools, args: argparse.Namespace) -> Any:
            box = SecretBox.from_key_file(config.master_key_path, create=False)
            return await work(ConnectorAdmin(tools.store, tools.admin, box.seal), config, args)

        return with_store(with_tools)(config, args)

    return run


# -- connectors -------------------------------------------------------------------------------


async def _add(admin: ConnectorAdmin, _config: Config, args: argparse.Namespace) -> Any:
    settings: dict[str, Any] = {
        name: getattr(args, name) for name in _SETTINGS if getattr(args, name) is not None
    }
    if args.tls:
        settings["tls"] = True
    if args.receipt_code:
        settings["receipt_codes"] = dict(_receipt_code(raw) for raw in args.receipt_code)
    return await admin.add_connector(args.name, settings, args.password, replace=args.replace)


def _receipt_code(raw: str) -> tuple[str, str]:
    key, sep, code = raw.rpartition("=")
    if not sep or not key.strip() or not code.strip():
        raise CliError(
            f"--receipt-code is STAT[:ERR]=CODE, e.g. UNDELIV:005=PORTED_NUM, not {raw!r}"
        )
    return key.strip().upper(), code.strip()


async def _list(admin: ConnectorAdmin, config: Config, args: argparse.Namespace) -> Any:
    live, why_not = _live_state(config, args.endpoint)
    if live is None:
        print(f"smsgate: {why_not}; live state unknown", file=sys.stderr)
    shown = await admin.list_connectors(live)
    if live is None:
        for view in shown:
            view["live"] = None
    return shown if args.json else [_row(view, known=live is not None) for view in shown]


def _row(view: Mapping[str, Any], *, known: bool) -> dict[str, Any]:
    """One line of the table people read (``--json`` shows every setting)."""
    live = view.get("live")
    binds = live.get("binds") if live else None
    return {
        "name": view["name"],
        "address": view["address"],
        "system_id": view.get("system_id"),
        "binds": f"{view['binds']} {view['bind_mode']}" if "binds" in view else None,
        "window": view.get("window"),
        "tps": view.get("tps") or None,
        "state": live["state"] if live else ("not running" if known else "unknown"),
        "bind_states": [str(b.get("state", "?")) for b in binds] if binds else None,
        "in_flight": live.get("in_flight") if live else None,
        "per_s": live.get("throughput_per_s") if live else None,
    }


def _live_state(config: Config, endpoint: str | None) -> tuple[Live | None, str]:
    """The running server's live connector state, or None and why there is none."""
    token = config.admin.token
    if not token:
        path = config.admin_token_path
        if not path.exists():
            return None, f"no server has run on {config.server.data_dir.resolve()} (no admin.token)"
        token = path.read_text(encoding="ascii", errors="replace").strip()
    url = f"{server_url(config, endpoint)}admin/connectors"
    request = urllib.request.Request(  # noqa: S310 - the scheme is http(s), see server_url
        url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:  # noqa: S310
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return None, f"the server at {url} answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, f"no server answers at {url} ({getattr(exc, 'reason', exc)})"
    if not isinstance(answer, list):
        return None, f"the server at {url} gave no list of connectors"
    return {
        str(view["name"]): view["live"]
        for view in answer
        if isinstance(view, dict) and isinstance(view.get("live"), dict)
    }, ""


async def _remove(admin: ConnectorAdmin, _config: Config, args: argparse.Namespace) -> Any:
    return await admin.remove_connector(args.name)


# -- routes -----------------------------------------------------------------------------------


async def _route_add(admin: ConnectorAdmin, _config: Config, args: argparse.Namespace) -> Any:
    criteria: dict[str, Any] = {name: getattr(args, name) for name in _ROUTE_FIELDS}
    if args.priority is not None:
        criteria["priority"] = args.priority
    if args.weight is not None:
        criteria["weight"] = args.weight
    return await admin.add_route(criteria)


async def _route_list(admin: ConnectorAdmin, _config: Config, _args: argparse.Namespace) -> Any:
    return await admin.list_routes()


async def _route_remove(admin: ConnectorAdmin, _config: Config, args: argparse.Namespace) -> Any:
    return await admin.remove_route(args.route_id)


# -- parsers ----------------------------------------------------------------------------------


def add_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    _connector_commands(commands, common)
    _route_commands(commands, common)


def _connector_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    add_example = "uplink --host smsc.example.net --port 2775 --system-id acme --password s3cret"
    connectors = commands.add_parser(
        "connectors", help="upstream SMPP connectors", **example(f"add {add_example}")
    ).add_subparsers(title="commands")
    p = connectors.add_parser(
        "add",
        parents=[common],
        help="add an upstream SMSC (a running server binds to it)",
        description="Add an upstream SMPP connector. The password is stored sealed with the data "
        "directory's master key and never shown again.",
        **example(
            add_example,
            f"{add_example} --tls --binds 2 --bind-mode tx+rx --window 50 --tps 100 "
            "--long-method sar --receipt-ids hex --receipt-code UNDELIV:005=PORTED_NUM",
        ),
    )
    p.add_argument("name", help="1-32 letters, digits, '_', '.' or '-'")
    p.add_argument("--host", required=True)
    p.add_argument("--port", required=True, type=int)
    p.add_argument("--system-id", required=True, help="1 to 15 characters")
    p.add_argument("--password", required=True, help="1 to 8 characters")
    p.add_argument("--tls", action="store_true", help="SMPP over TLS")
    p.add_argument("--binds", type=int, help="sessions held open (default 1)")
    p.add_argument("--window", type=int, help="submit_sm in flight per bind (default 10)")
    p.add_argument("--tps", type=float, help="submits a second over all binds (default: no cap)")
    p.add_argument("--bind-mode", choices=BIND_MODES, help="default transceiver")
    p.add_argument("--system-type", help="at most 12 characters (default empty)")
    p.add_argument("--enquire-link-s", type=float, help="keep-alive interval (default 30)")
    p.add_argument("--reconnect-initial-s", type=float, help="first back-off (default 1)")
    p.add_argument("--reconnect-max-s", type=float, help="longest back-off (default 60)")
    p.add_argument(
        "--response-timeout-s", type=float, help="a submit unanswered this long is retried (30)"
    )
    p.add_argument("--source-ton", type=int, help="default: 5 for a name, 1 for a number")
    p.add_argument("--source-npi", type=int)
    p.add_argument(
        "--text-coding",
        type=int,
        choices=TEXT_CODINGS,
        help="data_coding of GSM text: 0 SMSC default (default), 1 IA5, 3 Latin-1",
    )
    p.add_argument("--long-method", choices=LONG_METHODS, help="long messages (default udh)")
    p.add_argument(
        "--receipt-ids", choices=ID_FORMATS, help="ids in receipts against submit_sm_resp's"
    )
    p.add_argument(
        "--receipt-code",
        action="append",
        metavar="STAT[:ERR]=CODE",
        help="read a receipt's stat (and err) as this receipt code; repeat for more",
    )
    p.add_argument("--replace", action="store_true", help="change a connector that exists")
    p.set_defaults(run=_with_admin(_add))

    p = connectors.add_parser(
        "list",
        parents=[common],
        help="connectors, with each one's live state from the running server",
        **example("", "--json"),
    )
    p.add_argument(
        "--endpoint", help="the server's URL (default: http://127.0.0.1:<configured http_port>)"
    )
    p.set_defaults(run=_with_admin(_list))

    p = connectors.add_parser(
        "remove",
        parents=[common],
        help="remove a connector (a running server drains it)",
        **example("uplink"),
    )
    p.add_argument("name")
    p.set_defaults(run=_with_admin(_remove))


def _route_commands(commands: Commands, common: argparse.ArgumentParser) -> None:
    routes = commands.add_parser(
        "routes", help="which connector takes which messages", **example("add --connector uplink")
    ).add_subparsers(title="commands")
    p = routes.add_parser(
        "add",
        parents=[common],
        help="add a route to a connector",
        description="Add a route: messages that match every criterion given may leave by the "
        "connector. Higher priority is tried first, then the more specific route (a longer "
        "prefix, then more criteria); routes equal in both share traffic by weight. The "
        "others are the failover.",
        **example(
            "--connector simulator --country SG --priority 10",
            "--connector uplink --prefix 6591 --weight 3",
        ),
    )
    p.add_argument("--connector", required=True, help="a connector's name, or simulator")
    p.add_argument("--country", help="ISO 3166 alpha-2 code, e.g. SG")
    p.add_argument("--prefix", help="number prefix with its country code, e.g. 6591")
    p.add_argument("--network", help="mobile network, e.g. SingTel")
    p.add_argument("--account", help="account id")
    p.add_argument("--sender", help="sender ID")
    p.add_argument("--priority", type=int, help="higher first (default 0)")
    p.add_argument("--weight", type=int, help="share among equal routes (default 1)")
    p.set_defaults(run=_with_admin(_route_add))
    routes.add_parser(
        "list",
        parents=[common],
        help="routes, in the order they are tried",
        **example("", "--json"),
    ).set_defaults(run=_with_admin(_route_list))
    p = routes.add_parser("remove", parents=[common], help="remove a route", **example("r1"))
    p.add_argument("route_id")
    p.set_defaults(run=_with_admin(_route_remove))
