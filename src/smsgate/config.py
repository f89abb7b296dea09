"""Typed configuration, validated once.

Configuration comes from an optional TOML file and command-line overrides; only the composition
root (:mod:`smsgate.app`) and the CLI call :func:`load_config`. Nothing else reads files or the
environment for settings. Every value has a default that runs the embedded mode with nothing
installed: SQLite in the data directory, in-process queue, built-in carrier simulator.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from smsgate import errors

__all__ = [
    "CallbackConfig",
    "Config",
    "ConfigError",
    "PipelineConfig",
    "ServerConfig",
    "SimulatorConfig",
    "SimulatorRule",
    "StoreConfig",
    "default_simulator_rules",
    "load_config",
]


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


@dataclass(frozen=True, slots=True)
class StoreConfig:
    durability: Literal["full", "normal"] = "full"


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    queue_size: int = 100_000  # accepted-but-undelivered messages before doors answer "busy"
    max_segments: int = 15  # longer texts are refused, never truncated
    submit_batch: int = 256


@dataclass(frozen=True, slots=True)
class SimulatorRule:
    """Destinations matching ``match`` get ``receipt`` (a receipt code, ``success`` or ``EXPIRED``)
    after ``delay_ms``."""

    kind: Literal["prefix", "suffix", "exact"]
    value: str
    receipt: str
    delay_ms: int | None = None

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


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)
    callbacks: CallbackConfig = field(default_factory=CallbackConfig)

    @property
    def db_path(self) -> Path:
        return self.server.data_dir / "smsgate.db"

    @property
    def master_key_path(self) -> Path:
        return self.server.data_dir / "master.key"


def load_config(path: Path | None = None, **overrides: Any) -> Config:
    """Read ``path`` (TOML) if given, then apply non-None ``overrides`` of [server] settings."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    config = Config(
        server=_section(ServerConfig, raw.pop("server", {}), "server"),
        store=_section(StoreConfig, raw.pop("store", {}), "store"),
        pipeline=_section(PipelineConfig, raw.pop("pipeline", {}), "pipeline"),
        simulator=_simulator(raw.pop("simulator", {})),
        callbacks=_section(CallbackConfig, raw.pop("callbacks", {}), "callbacks"),
    )
    if raw:
        raise ConfigError(f"unknown config sections: {', '.join(sorted(raw))}")
    server_overrides = {k: v for k, v in overrides.items() if v is not None}
    if server_overrides:
        config = replace(config, server=_checked_server(replace(config.server, **server_overrides)))
    return config


def _section(cls: type[Any], values: dict[str, Any], name: str) -> Any:
    known = set(cls.__dataclass_fields__)
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"unknown settings in [{name}]: {', '.join(sorted(unknown))}")
    if "data_dir" in values:
        values = {**values, "data_dir": Path(values["data_dir"])}
    try:
        section = cls(**values)
    except TypeError as exc:
        raise ConfigError(f"[{name}]: {exc}") from exc
    if cls is ServerConfig:
        return _checked_server(section)
    _check_positive(section, name)
    return section


def _checked_server(server: ServerConfig) -> ServerConfig:
    for port_name in ("http_port", "smpp_port"):
        port = getattr(server, port_name)
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError(f"[server] {port_name} must be a port number 0-65535, not {port!r}")
    if not 0 <= server.node_id <= 1023:
        raise ConfigError("[server] node_id must be 0-1023")
    return server


_MAY_BE_ZERO = frozenset({"delay_ms"})


def _check_positive(section: Any, name: str) -> None:
    for key in section.__dataclass_fields__:
        value = getattr(section, key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        if value < 0 or (value == 0 and key not in _MAY_BE_ZERO):
            raise ConfigError(f"[{name}] {key} must be greater than zero, not {value!r}")
    if name == "store" and section.durability not in ("full", "normal"):
        raise ConfigError("[store] durability must be 'full' or 'normal'")


def _simulator(values: dict[str, Any]) -> SimulatorConfig:
    values = dict(values)
    rules_raw = values.pop("rules", None)
    base = _section(SimulatorConfig, values, "simulator")
    if rules_raw is None:
        return base  # type: ignore[no-any-return]
    known_receipts = {c.code for c in errors.RECEIPT_CODES} | {
        errors.DELIVERED.code,
        errors.EXPIRED.code,
    }
    rules = []
    for i, rule in enumerate(rules_raw):
        kind = rule.get("match")
        if kind not in ("prefix", "suffix", "exact"):
            raise ConfigError(f"[[simulator.rules]] #{i + 1}: match must be prefix|suffix|exact")
        if rule.get("receipt") not in known_receipts:
            raise ConfigError(
                f"[[simulator.rules]] #{i + 1}: receipt must be one of {sorted(known_receipts)}"
            )
        delay = rule.get("delay_ms")
        if delay is not None and (not isinstance(delay, int) or delay < 0):
            raise ConfigError(f"[[simulator.rules]] #{i + 1}: delay_ms must be >= 0")
        rules.append(SimulatorRule(kind, str(rule["value"]), rule["receipt"], delay))
    result: SimulatorConfig = replace(base, rules=tuple(rules))
    return result
