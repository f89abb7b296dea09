"""Typed configuration, validated once.

Configuration comes from an optional TOML file, the environment and command-line overrides; only
the composition root (:mod:`smsgate.app`) and the CLI call :func:`load_config`. Nothing else reads
files or the environment for settings: the variables below are read here and nowhere else. Every
value has a default that runs the embedded mode with nothing installed: SQLite in the data
directory, in-process queue, built-in carrier simulator.

Every command finds the data directory the same way, so that the server and the administration
commands agree on it whatever the current directory: ``--data-dir``, then ``SMSGATE_DATA_DIR``,
then ``[server] data_dir`` of the configuration file (``--config``, then ``SMSGATE_CONFIG``), then
the default ``./smsgate-data``.
"""

from __future__ import annotations

import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from smsgate import errors
from smsgate.domain.destinations import DEFAULT_BLOCKED_NETWORKS, parse_networks
from smsgate.smpp.constants import CommandStatus

__all__ = [
    "ENV_ACCESS_KEY_ID",
    "ENV_ACCESS_KEY_SECRET",
    "ENV_CONFIG",
    "ENV_DATA_DIR",
    "ENV_REDIS_URL",
    "ENV_STORE_URL",
    "AdminConfig",
    "CallbackConfig",
    "Config",
    "ConfigError",
    "HttpConfig",
    "PipelineConfig",
    "RedisConfig",
    "ServerConfig",
    "SimulatorConfig",
    "SimulatorRule",
    "StoreConfig",
    "UpstreamConfig",
    "access_key_from_environment",
    "default_simulator_rules",
    "load_config",
    "load_simulator_config",
]

#: The configuration file when ``--config`` is not given.
ENV_CONFIG = "SMSGATE_CONFIG"
#: The data directory when ``--data-dir`` is not given; beats the configuration file.
ENV_DATA_DIR = "SMSGATE_DATA_DIR"
#: The AccessKey pair ``smsgate send`` and ``smsgate sign`` use when no flag names one.
ENV_ACCESS_KEY_ID = "SMSGATE_ACCESS_KEY_ID"
ENV_ACCESS_KEY_SECRET = "SMSGATE_ACCESS_KEY_SECRET"  # noqa: S105 - a variable name
#: A PostgreSQL URL for the store, and a Redis URL for what processes share at request speed.
ENV_STORE_URL = "SMSGATE_STORE_URL"
ENV_REDIS_URL = "SMSGATE_REDIS_URL"


class ConfigError(ValueError):
    """The configuration is invalid; the message says which setting and why."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    http_port: int = 8080
    smpp_port: int = 2775
    data_dir: Path = Path("smsgate-data")
    node_id: int = 0  # distinguishes message ids of processes sharing one store
    max_body_bytes: int = 4 * 1024 * 1024
    timestamp_skew_s: int = 900  # Alibaba rejects signatures more than 15 minutes off
    # How often cached keys and policy documents are checked against the store: changes made by
    # the CLI or the admin API take effect within this many seconds. 0 checks on every request.
    refresh_s: float = 1.0
    #: Server processes on this machine behind the same ports (``serve --workers``); more than
    #: one needs the shared store and counters ([store] url, [redis] url).
    workers: int = 1
    #: What this process does: ``all``; or one part of a scale-out installation: ``api`` (the
    #: HTTP door), ``smpp`` (the SMPP door), ``worker`` (delivery, receipts, callbacks).
    role: Literal["all", "api", "smpp", "worker"] = "all"
    #: Open the listeners with SO_REUSEPORT (set by ``serve --workers`` for its children).
    reuse_port: bool = False


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """Limits of the HTTP port against idle, slow and greedy connections."""

    # A connection that has sent no complete request for this long is closed: idle keep-alive
    # connections, and clients that trickle their request headers (the clock starts when the
    # connection opens or its last answer was sent).
    keepalive_timeout_s: float = 30.0
    body_timeout_s: float = 30.0  # a request body must arrive within this
    # Open connections in all (lowered at start to what the open-file limit allows) and per
    # client address. Behind a reverse proxy every client shares the proxy's address: raise it.
    max_connections: int = 10_000
    max_connections_per_peer: int = 256
    max_header_bytes: int = 16_384  # one header line; the request line is [server] max_body_bytes
    max_parameters: int = 1_000  # query and form parameters together, refused before parsing
    # Requests being handled at once; more are answered Throttling (429) before any parsing,
    # so that the latency of what is accepted stays bounded under overload.
    max_in_progress: int = 2048
    shutdown_timeout_s: float = 5.0  # requests in progress get this long to finish on stop


@dataclass(frozen=True, slots=True)
class StoreConfig:
    durability: Literal["full", "normal"] = "full"
    commit_linger_ms: float = 2.0  # a lone write waits this long for others to share its commit
    #: Where the records live: "" for the data directory's SQLite file (the embedded default),
    #: or a PostgreSQL URL (``postgresql://user@host:5432/smsgate``) that several smsgate
    #: processes share. Kept out of repr: the URL may carry a password.
    url: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class RedisConfig:
    #: "" keeps throttling counters and replay nonces in process memory (one process); a Redis
    #: URL (``redis://host:6379/0``) shares them between processes. Kept out of repr (password).
    url: str = field(default="", repr=False)
    #: Every key smsgate writes starts with this, so that installations can share a server.
    prefix: str = "smsgate:"


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    queue_size: int = 100_000  # accepted-but-undelivered messages before doors answer "busy"
    max_segments: int = 15  # longer texts are refused, never truncated
    submit_batch: int = 256


@dataclass(frozen=True, slots=True)
class SimulatorRule:
    """Destinations matching ``match`` get ``receipt`` (a receipt code, ``success`` or ``EXPIRED``)
    after ``delay_ms``.

    ``reject``: the simulator refuses the submit itself with ``receipt`` (a failure code), as an
    SMSC answers a bad destination, instead of taking the message and failing it later.
    ``retries``: the first ``retries`` submits of each message are answered "try again after
    ``delay_ms``", as a throttled SMSC answers; then the rule goes on as above.
    ``status``: the SMPP command_status (its name, e.g. ``ESME_RMSGQFUL``) the standalone SMSC
    (``smsgate simulator``) answers those submits with instead of its default for the rule; the
    embedded simulator answers no SMPP and ignores it.
    """

    kind: Literal["prefix", "suffix", "exact"]
    value: str
    receipt: str
    delay_ms: int | None = None
    reject: bool = False
    retries: int = 0
    status: str = ""

    def matches(self, number: str) -> bool:
        if self.kind == "prefix":
            return number.startswith(self.value)
        if self.kind == "suffix":
            return number.endswith(self.value)
        return number == self.value


def default_simulator_rules() -> tuple[SimulatorRule, ...]:
    """Numbers ending in 9901..9909 fail with each seed receipt code in seed order; 9910 expires."""
    rules = [
        SimulatorRule("suffix", f"99{i:02d}", code.code)
        for i, code in enumerate(errors.RECEIPT_CODES, start=1)
    ]
    rules.append(SimulatorRule("suffix", "9910", errors.EXPIRED.code))
    return tuple(rules)


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    delay_ms: int = 100
    rules: tuple[SimulatorRule, ...] = field(default_factory=default_simulator_rules)


@dataclass(frozen=True, slots=True)
class CallbackConfig:
    max_attempts: int = 12
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 900.0
    timeout_s: float = 10.0
    batch_size: int = 100
    # Receipts are never pushed to these (comma-separated networks, or "none"): link-local,
    # where cloud metadata services hand out the machine's credentials, by default.
    blocked_networks: str = DEFAULT_BLOCKED_NETWORKS


@dataclass(frozen=True, slots=True)
class SmppConfig:
    """The SMPP door (the port itself is [server] smpp_port)."""

    window: int = 64  # deliver_sm sent to one bind and not yet answered
    max_binds: int = 8  # per account, all bind types together
    tps_per_bind: int = 0  # submit_sm/submit_multi per second per bind; 0: no limit
    enquire_link_s: float = 30.0  # silence before we probe the link
    inactivity_s: float = 300.0  # silence before we close it
    response_timeout_s: float = 30.0  # wait for a deliver_sm_resp before retrying
    receipt_retry_s: float = 10.0  # a refused or unanswered receipt or MO is sent again after this
    concat_timeout_s: float = 60.0  # parts of a long message must all arrive within this
    tls_port: int = 2776  # used only when tls_cert and tls_key are set
    tls_cert: str = ""  # PEM certificate chain; with tls_key, enables SMPP over TLS
    tls_key: str = ""
    # How refusals read to a credential that did not choose (smsgate smpp add --status-codes):
    # "seed", the seed table's SMPP codes, or "smpp34", standard SMPP 3.4 statuses.
    status_codes: errors.SmppStatusProfile = "seed"
    # Requests read from one bind and not yet answered. At this many the server stops reading
    # from that bind (TCP pushes back on the client) until answers go out.
    request_window: int = 512
    # A client that does not read its answers: once the socket's send buffer is full the server
    # stops reading from it, and closes it after this many seconds without progress.
    write_stall_s: float = 30.0
    # Password guessing: after max_failed_binds failed binds within failed_binds_window_s, for a
    # system_id or from a peer address, its binds are refused (ESME_RBINDFAIL) for bind_lock_s.
    max_failed_binds: int = 5
    failed_binds_window_s: float = 60.0
    bind_lock_s: float = 60.0
    # Password hashes checked at once (each takes a core for ~30 ms, off the event loop), and
    # binds allowed to wait for one; more are refused at once with ESME_RBINDFAIL.
    password_checks: int = 1
    max_waiting_binds: int = 32
    # On shutdown: binds are sent an unbind and given this long to answer before they are closed.
    shutdown_s: float = 2.0


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """What upstream SMSCs deliver: receipts and MO messages (service.upstream, service.expiry)."""

    # A message handed to a carrier without a validity_period of its own expires this long
    # after it was accepted if no receipt came (with one, it expires when that runs out).
    default_validity_s: float = 72 * 3600.0
    expiry_sweep_s: float = 60.0  # how often SUBMITTED messages past their validity are expired
    # Receipts that came before their submit's response, and parts of MO messages, are kept
    # this long for the rest to come.
    keep_s: float = 24 * 3600.0
    # A removed or replaced connector stays bound, after its submits are answered, until no
    # message handed over through it awaits its receipt, or this long at most: closed sooner,
    # those messages would expire although delivered.
    receipt_drain_s: float = 300.0
    # Run the upstream connectors in a child process, on another core than the doors and the
    # store (adapters.carriers.process): about a quarter more messages a second end to end on
    # two cores. False keeps them in the server's own loop (one core, or to debug them).
    connector_process: bool = True


@dataclass(frozen=True, slots=True)
class AdminConfig:
    """The operator admin API (``/admin`` on the HTTP port).

    ``token`` is the operator's bearer token; empty means the one kept in ``admin.token`` in the
    data directory, created (mode 0600) on first start.
    """

    token: str = field(default="", repr=False)  # kept out of reprs, and so out of logs


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)
    callbacks: CallbackConfig = field(default_factory=CallbackConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)
    smpp: SmppConfig = field(default_factory=SmppConfig)
    upstream: UpstreamConfig = field(default_factory=UpstreamConfig)
    redis: RedisConfig = field(default_factory=RedisConfig)
    #: Where ``server.data_dir`` came from, for messages that name it ("--data-dir", ...).
    data_dir_source: str = field(default="the default", compare=False)

    @property
    def db_path(self) -> Path:
        return self.server.data_dir / "smsgate.db"

    @property
    def master_key_path(self) -> Path:
        return self.server.data_dir / "master.key"

    @property
    def admin_token_path(self) -> Path:
        return self.server.data_dir / "admin.token"


def load_config(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    store_url: str | None = None,
    redis_url: str | None = None,
    **overrides: Any,
) -> Config:
    """Read the TOML file, then apply the environment and non-None ``overrides`` of [server].

    ``store_url`` and ``redis_url`` (``--store``, ``--redis``) win over ``SMSGATE_STORE_URL``
    and ``SMSGATE_REDIS_URL``, which win over ``[store] url`` and ``[redis] url``.

    ``path`` is the ``--config`` file; without it, ``SMSGATE_CONFIG`` names one. ``environ`` is
    the process environment unless given (tests pass their own). Every value is checked against
    its setting's type and range here, once, so that a mistake is a one-line
    :class:`ConfigError` at start-up rather than a failure at the first request.
    """
    env = os.environ if environ is None else environ
    if path is None and env.get(ENV_CONFIG):
        path = Path(env[ENV_CONFIG])
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    server_values = dict(_table(raw.pop("server", {}), "server"))
    source = f"[server] data_dir in {path}" if "data_dir" in server_values else "the default"
    if env.get(ENV_DATA_DIR):
        server_values["data_dir"], source = env[ENV_DATA_DIR], ENV_DATA_DIR
    if overrides.get("data_dir") is not None:
        source = "--data-dir"
    server_values.update({k: v for k, v in overrides.items() if v is not None})
    config = Config(
        server=_section(ServerConfig, server_values, "server"),
        http=_section(HttpConfig, _table(raw.pop("http", {}), "http"), "http"),
        store=_section(StoreConfig, _table(raw.pop("store", {}), "store"), "store"),
        pipeline=_section(PipelineConfig, _table(raw.pop("pipeline", {}), "pipeline"), "pipeline"),
        simulator=_simulator(_table(raw.pop("simulator", {}), "simulator")),
        callbacks=_callbacks(_table(raw.pop("callbacks", {}), "callbacks")),
        admin=_admin(_table(raw.pop("admin", {}), "admin")),
        smpp=_smpp(_table(raw.pop("smpp", {}), "smpp")),
        upstream=_section(UpstreamConfig, _table(raw.pop("upstream", {}), "upstream"), "upstream"),
        redis=_section(RedisConfig, _table(raw.pop("redis", {}), "redis"), "redis"),
        data_dir_source=source,
    )
    if raw:
        raise ConfigError(f"unknown config sections: {', '.join(sorted(raw))}")
    store_url = _first(store_url, env.get(ENV_STORE_URL), config.store.url)
    redis_url = _first(redis_url, env.get(ENV_REDIS_URL), config.redis.url)
    config = replace(
        config,
        store=replace(config.store, url=_url(store_url, _STORE_SCHEMES, "[store] url")),
        redis=replace(config.redis, url=_url(redis_url, _REDIS_SCHEMES, "[redis] url")),
    )
    _check_processes(config)
    return config


def _check_processes(config: Config) -> None:
    """Several processes, or one with a part of the work, need state they all share."""
    server = config.server
    if server.node_id + server.workers - 1 > 1023:
        raise ConfigError(
            f"[server] node_id {server.node_id} with {server.workers} workers: the workers take "
            f"node ids {server.node_id}-{server.node_id + server.workers - 1}, beyond 1023"
        )
    alone = "one process" if server.role == "all" else f"a process of role {server.role}"
    if server.workers > 1 or server.role != "all":
        what = f"{server.workers} workers" if server.workers > 1 else alone
        if not (config.store.url and config.redis.url):
            raise ConfigError(
                f"{what} need a store and counters that every process shares: give --store "
                "postgresql://... and --redis redis://... (or [store] url and [redis] url); "
                "the embedded mode (SQLite, counters in memory) runs as one process"
            )


_STORE_SCHEMES = ("postgresql", "postgres")
_REDIS_SCHEMES = ("redis", "rediss", "unix")


def _first(*values: str | None) -> str:
    """The first value given (the command line, then the environment, then the file)."""
    return next((v for v in values if v is not None), "")


def _url(value: str, schemes: tuple[str, ...], name: str) -> str:
    """``value`` if empty or a URL of one of ``schemes``; the error names the setting, not the
    URL, which may carry a password."""
    if value and urlsplit(value).scheme not in schemes:
        raise ConfigError(
            f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)}"
        )
    return value


def access_key_from_environment(environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """The AccessKey pair (id, secret) in ``SMSGATE_ACCESS_KEY_ID``/``_SECRET``, if both are set.

    Kept out of :class:`Config` (and so out of files and reprs): it is a client's credential,
    used only by the CLI commands that call the API.
    """
    env = os.environ if environ is None else environ
    key_id, secret = env.get(ENV_ACCESS_KEY_ID, ""), env.get(ENV_ACCESS_KEY_SECRET, "")
    if bool(key_id) != bool(secret):
        raise ConfigError(f"{ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET} go together: set both")
    return (key_id, secret) if key_id else None


#: Settings that may be zero; every other number must be greater than zero.
_MAY_BE_ZERO = frozenset(
    {
        "delay_ms",
        "http_port",
        "smpp_port",
        "node_id",
        "refresh_s",
        "tps_per_bind",
        "tls_port",
        "commit_linger_ms",
    }
)
_RANGES: dict[str, tuple[int, int]] = {
    "http_port": (0, 65535),
    "smpp_port": (0, 65535),
    "tls_port": (0, 65535),
    "node_id": (0, 1023),
    "workers": (1, 64),
}
_WHAT = {
    "http_port": "a port number 0-65535",
    "smpp_port": "a port number 0-65535",
    "tls_port": "a port number 0-65535",
    "node_id": "a node_id 0-1023",
    "workers": "a number of processes 1-64",
}


def _table(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a table of settings")
    return value


def _section(cls: type[Any], values: dict[str, Any], name: str) -> Any:
    hints = typing.get_type_hints(cls)
    unknown = set(values) - set(hints)
    if unknown:
        raise ConfigError(f"unknown settings in [{name}]: {', '.join(sorted(unknown))}")
    checked = {key: _checked(name, key, hints[key], value) for key, value in values.items()}
    return cls(**checked)


def _checked(section: str, key: str, hint: Any, value: Any) -> Any:
    """``value`` converted to the setting's type, or ConfigError saying what was expected."""
    where = f"[{section}] {key}"
    if typing.get_origin(hint) is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ConfigError(f"{where} must be one of {', '.join(map(repr, choices))}")
        return value
    if hint is Path:
        if not isinstance(value, str | Path) or not str(value):
            raise ConfigError(f"{where} must be a path")
        return Path(value)
    if hint is str:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where} must be a non-empty string")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, not {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be {_WHAT.get(key, 'a whole number')}, not {value!r}")
        return _in_range(where, key, value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number, not {value!r}")
        return float(_in_range(where, key, value))
    raise ConfigError(f"{where} cannot be set in the configuration file")


def _in_range(where: str, key: str, value: float) -> float:
    low, high = _RANGES.get(key, (0, None))
    if key in _WHAT and not low <= value <= (high or value):
        raise ConfigError(f"{where} must be {_WHAT[key]}, not {value!r}")
    if value < low or (value == 0 and key not in _MAY_BE_ZERO):
        raise ConfigError(f"{where} must be greater than zero, not {value!r}")
    return value


#: A configured operator token shorter than this is refused: it would be guessable.
MIN_ADMIN_TOKEN_LENGTH = 16


def _admin(values: dict[str, Any]) -> AdminConfig:
    admin: AdminConfig = _section(AdminConfig, values, "admin")
    if admin.token and (
        len(admin.token) < MIN_ADMIN_TOKEN_LENGTH or admin.token != admin.token.strip()
    ):
        raise ConfigError(
            f"[admin] token must be at least {MIN_ADMIN_TOKEN_LENGTH} characters without "
            "surrounding spaces (or leave it out to use the admin.token file)"
        )
    return admin


def _callbacks(values: dict[str, Any]) -> CallbackConfig:
    callbacks: CallbackConfig = _section(CallbackConfig, values, "callbacks")
    try:
        parse_networks(callbacks.blocked_networks)
    except ValueError as exc:
        raise ConfigError(f"[callbacks] blocked_networks: {exc}") from None
    return callbacks


def _smpp(values: dict[str, Any]) -> SmppConfig:
    smpp: SmppConfig = _section(SmppConfig, values, "smpp")
    if bool(smpp.tls_cert) != bool(smpp.tls_key):
        raise ConfigError("[smpp] tls_cert and tls_key go together: set both or neither")
    for name in ("tls_cert", "tls_key"):
        path = getattr(smpp, name)
        if path and not Path(path).is_file():
            raise ConfigError(f"[smpp] {name}: no such file {path}")
    return smpp


_RULE_KEYS = frozenset({"match", "value", "receipt", "delay_ms", "reject", "retries", "status"})


def _simulator(values: dict[str, Any]) -> SimulatorConfig:
    values = dict(values)
    rules_raw = values.pop("rules", None)
    base: SimulatorConfig = _section(SimulatorConfig, values, "simulator")
    if rules_raw is None:
        return base
    if not isinstance(rules_raw, list):
        raise ConfigError("[simulator] rules must be a list of [[simulator.rules]] tables")
    rules = tuple(_rule(i, rule) for i, rule in enumerate(rules_raw, start=1))
    return replace(base, rules=rules)


def load_simulator_config(path: Path) -> SimulatorConfig:
    """The ``[simulator]`` table of a TOML file (``delay_ms`` and ``[[simulator.rules]]``), as
    in smsgate's configuration file, checked the same way: the rules of ``smsgate simulator
    --rules FILE``. Other tables in the file are left alone, so smsgate's own configuration
    file can be given."""
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read rules file {path}: {exc}") from exc
    if "simulator" not in raw:
        raise ConfigError(
            f"rules file {path} has no [simulator] table (delay_ms and [[simulator.rules]])"
        )
    return _simulator(_table(raw["simulator"], "simulator"))


def _rule(number: int, rule: Any) -> SimulatorRule:
    where = f"[[simulator.rules]] #{number}"
    if not isinstance(rule, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = set(rule) - _RULE_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown settings {', '.join(sorted(unknown))}")
    known_receipts = {c.code for c in errors.RECEIPT_CODES} | {
        errors.DELIVERED.code,
        errors.EXPIRED.code,
    }
    kind = rule.get("match")
    if kind not in ("prefix", "suffix", "exact"):
        raise ConfigError(f"{where}: match must be prefix|suffix|exact")
    value = rule.get("value")
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value):
        raise ConfigError(f"{where}: value must be the digits to match")
    if rule.get("receipt") not in known_receipts:
        raise ConfigError(f"{where}: receipt must be one of {sorted(known_receipts)}")
    delay = rule.get("delay_ms")
    if delay is not None and (isinstance(delay, bool) or not isinstance(delay, int) or delay < 0):
        raise ConfigError(f"{where}: delay_ms must be a whole number >= 0")
    reject = rule.get("reject", False)
    if not isinstance(reject, bool):
        raise ConfigError(f"{where}: reject must be true or false")
    if reject and rule["receipt"] in (errors.DELIVERED.code, errors.EXPIRED.code):
        raise ConfigError(f"{where}: a rejecting rule needs a failure receipt code")
    retries = rule.get("retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"{where}: retries must be a whole number >= 0")
    status = _rule_status(where, rule.get("status", ""), reject or retries > 0)
    return SimulatorRule(kind, str(value), rule["receipt"], delay, reject, retries, status)


def _rule_status(where: str, status: Any, answers: bool) -> str:
    """A rule's SMPP status: the name of an error status, on a rule that refuses submits."""
    if status == "":
        return ""
    errors_by_name = {s.name for s in CommandStatus if s is not CommandStatus.ESME_ROK}
    if not isinstance(status, str) or status not in errors_by_name:
        raise ConfigError(
            f"{where}: status must be the name of an SMPP error status, such as "
            f"ESME_RTHROTTLED, ESME_RMSGQFUL or ESME_RINVDSTADR, not {status!r}"
        )
    if not answers:
        raise ConfigError(f"{where}: status goes with reject = true or retries = N")
    return status
