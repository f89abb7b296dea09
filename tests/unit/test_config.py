"""load_config: defaults, TOML sections, validation, simulator rules and command-line overrides."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from smsgate import errors
from smsgate.config import (
    CallbackConfig,
    Config,
    ConfigError,
    PipelineConfig,
    ServerConfig,
    SimulatorConfig,
    SimulatorRule,
    StoreConfig,
    UpstreamConfig,
    default_simulator_rules,
    load_config,
    load_simulator_config,
)
from smsgate.service.accounts import format_money, parse_money

WriteToml = Callable[[str], Path]


@pytest.fixture
def toml(tmp_path: Path) -> WriteToml:
    def write(text: str) -> Path:
        path = tmp_path / "smsgate.toml"
        path.write_text(text)
        return path

    return write


def refused(path: Path, **overrides: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, **overrides)
    return str(caught.value)


# -- defaults --------------------------------------------------------------------------------


def test_defaults_without_a_file() -> None:
    config = load_config()

    assert config == Config()
    assert config.server == ServerConfig(
        host="127.0.0.1",
        http_port=8080,
        smpp_port=2775,
        data_dir=Path("smsgate-data"),
        node_id=0,
        max_body_bytes=4 * 1024 * 1024,
        timestamp_skew_s=900,
    )
    assert config.store.durability == "full"
    assert config.pipeline == PipelineConfig(queue_size=100_000, max_segments=15, submit_batch=256)
    assert config.simulator == SimulatorConfig(delay_ms=100, rules=default_simulator_rules())
    assert config.callbacks == CallbackConfig()
    assert config.upstream == UpstreamConfig(
        default_validity_s=72 * 3600, expiry_sweep_s=60, keep_s=24 * 3600
    )
    assert config.db_path == Path("smsgate-data") / "smsgate.db"
    assert config.master_key_path == Path("smsgate-data") / "master.key"


def test_an_empty_file_gives_the_defaults(toml: WriteToml) -> None:
    assert load_config(toml("")) == Config()


def test_default_simulator_rules_follow_the_seed_order() -> None:
    rules = default_simulator_rules()
    assert [(r.kind, r.value, r.receipt, r.delay_ms) for r in rules] == [
        *(("suffix", f"99{i:02d}", c.code, None) for i, c in enumerate(errors.RECEIPT_CODES, 1)),
        ("suffix", "9910", "EXPIRED", None),
    ]


# -- sections --------------------------------------------------------------------------------


def test_every_section_is_read(toml: WriteToml, tmp_path: Path) -> None:
    config = load_config(
        toml(
            f"""
            [server]
            host = "0.0.0.0"
            http_port = 18080
            smpp_port = 0
            data_dir = "{tmp_path / "data"}"
            node_id = 1023
            max_body_bytes = 65536
            timestamp_skew_s = 300

            [store]
            durability = "normal"

            [pipeline]
            queue_size = 10
            max_segments = 4
            submit_batch = 32

            [simulator]
            delay_ms = 0

            [callbacks]
            max_attempts = 3
            backoff_initial_s = 0.5
            backoff_max_s = 60
            timeout_s = 2.5
            batch_size = 7

            [upstream]
            default_validity_s = 3600
            expiry_sweep_s = 5
            keep_s = 600
            """
        )
    )

    assert config.server == ServerConfig(
        host="0.0.0.0",
        http_port=18080,
        smpp_port=0,
        data_dir=tmp_path / "data",
        node_id=1023,
        max_body_bytes=65536,
        timestamp_skew_s=300,
    )
    assert isinstance(config.server.data_dir, Path)
    assert config.db_path == tmp_path / "data" / "smsgate.db"
    assert config.store == StoreConfig(durability="normal")
    assert config.pipeline == PipelineConfig(queue_size=10, max_segments=4, submit_batch=32)
    assert config.simulator == SimulatorConfig(delay_ms=0, rules=default_simulator_rules())
    assert config.callbacks == CallbackConfig(
        max_attempts=3, backoff_initial_s=0.5, backoff_max_s=60, timeout_s=2.5, batch_size=7
    )
    assert config.upstream == UpstreamConfig(
        default_validity_s=3600.0, expiry_sweep_s=5.0, keep_s=600.0
    )


def test_a_partial_section_keeps_the_other_defaults(toml: WriteToml) -> None:
    config = load_config(toml("[pipeline]\nqueue_size = 5\n"))
    assert config.pipeline == PipelineConfig(queue_size=5)
    assert config.server == ServerConfig()


def test_an_unknown_section_is_refused(toml: WriteToml) -> None:
    message = refused(toml("[server]\nhttp_port = 1\n[smtp]\nport = 1\n[zzz]\n"))
    assert "unknown config sections" in message
    assert "smtp" in message
    assert "zzz" in message


def test_smpp_settings(toml: WriteToml, tmp_path: Path) -> None:
    config = load_config(toml("[smpp]\nwindow = 8\ntps_per_bind = 0\nmax_binds = 2\n"))
    assert (config.smpp.window, config.smpp.tps_per_bind, config.smpp.max_binds) == (8, 0, 2)
    assert "unknown settings in [smpp]: port" in refused(toml("[smpp]\nport = 1\n"))
    assert "greater than zero" in refused(toml("[smpp]\nwindow = 0\n"))
    assert "go together" in refused(toml('[smpp]\ntls_cert = "a.pem"\n'))
    missing = tmp_path / "missing.pem"
    assert "no such file" in refused(
        toml(f'[smpp]\ntls_cert = "{missing}"\ntls_key = "{missing}"\n')
    )


@pytest.mark.parametrize(
    ("section", "setting"),
    [
        ("server", "port"),
        ("store", "path"),
        ("pipeline", "queue"),
        ("simulator", "delay"),
        ("callbacks", "retries"),
    ],
)
def test_an_unknown_setting_is_refused(toml: WriteToml, section: str, setting: str) -> None:
    message = refused(toml(f"[{section}]\n{setting} = 1\n"))
    assert f"[{section}]" in message
    assert setting in message


def test_a_file_that_is_not_toml_is_refused(toml: WriteToml) -> None:
    path = toml("[server\nhttp_port = ")
    assert str(path) in refused(path)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    assert "cannot read config file" in refused(tmp_path / "absent.toml")


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "http_port = -1",
        "http_port = 65536",
        'http_port = "8080"',
        "smpp_port = 70000",
        "smpp_port = 1.5",
    ],
)
def test_a_bad_port_is_refused(toml: WriteToml, line: str) -> None:
    assert "port number" in refused(toml(f"[server]\n{line}\n"))


@pytest.mark.parametrize("node_id", [-1, 1024])
def test_a_node_id_out_of_range_is_refused(toml: WriteToml, node_id: int) -> None:
    assert "node_id" in refused(toml(f"[server]\nnode_id = {node_id}\n"))


@pytest.mark.parametrize(
    ("section", "setting"),
    [
        ("pipeline", "queue_size"),
        ("pipeline", "max_segments"),
        ("pipeline", "submit_batch"),
        ("callbacks", "max_attempts"),
        ("callbacks", "backoff_initial_s"),
        ("callbacks", "timeout_s"),
        ("callbacks", "batch_size"),
    ],
)
@pytest.mark.parametrize("value", [0, -1])
def test_zero_and_negative_sizes_are_refused(
    toml: WriteToml, section: str, setting: str, value: int
) -> None:
    message = refused(toml(f"[{section}]\n{setting} = {value}\n"))
    assert setting in message
    assert "greater than zero" in message


def test_a_zero_queue_size_is_refused(toml: WriteToml) -> None:
    assert refused(toml("[pipeline]\nqueue_size = 0\n")) == (
        "[pipeline] queue_size must be greater than zero, not 0"
    )


def test_a_zero_simulator_delay_is_allowed_but_not_a_negative_one(toml: WriteToml) -> None:
    assert load_config(toml("[simulator]\ndelay_ms = 0\n")).simulator.delay_ms == 0
    assert "delay_ms" in refused(toml("[simulator]\ndelay_ms = -1\n"))


def test_an_unknown_durability_is_refused(toml: WriteToml) -> None:
    assert "durability" in refused(toml('[store]\ndurability = "off"\n'))


# -- simulator rules -------------------------------------------------------------------------


def test_simulator_rules_are_parsed_in_order(toml: WriteToml) -> None:
    config = load_config(
        toml(
            """
            [simulator]
            delay_ms = 5

            [[simulator.rules]]
            match = "exact"
            value = "6591230000"
            receipt = "RECEIVER_BLACKLIST"
            delay_ms = 0

            [[simulator.rules]]
            match = "prefix"
            value = 62
            receipt = "success"

            [[simulator.rules]]
            match = "suffix"
            value = "00"
            receipt = "EXPIRED"
            delay_ms = 2500
            """
        )
    )

    assert config.simulator == SimulatorConfig(
        delay_ms=5,
        rules=(
            SimulatorRule("exact", "6591230000", "RECEIVER_BLACKLIST", 0),
            SimulatorRule("prefix", "62", "success", None),  # a TOML number becomes text
            SimulatorRule("suffix", "00", "EXPIRED", 2500),
        ),
    )


def test_a_rule_can_reject_at_submit_or_ask_for_retries(toml: WriteToml) -> None:
    config = load_config(
        toml(
            """
            [[simulator.rules]]
            match = "suffix"
            value = "9911"
            receipt = "INVALID_NUM"
            reject = true

            [[simulator.rules]]
            match = "suffix"
            value = "9912"
            receipt = "success"
            retries = 2
            delay_ms = 500
            """
        )
    )

    assert config.simulator.rules == (
        SimulatorRule("suffix", "9911", "INVALID_NUM", reject=True),
        SimulatorRule("suffix", "9912", "success", 500, retries=2),
    )


def test_a_refusing_rule_may_name_the_smpp_status_of_the_standalone_smsc(
    toml: WriteToml,
) -> None:
    config = load_config(
        toml(
            """
            [[simulator.rules]]
            match = "suffix"
            value = "9913"
            receipt = "success"
            retries = 1
            status = "ESME_RMSGQFUL"

            [[simulator.rules]]
            match = "suffix"
            value = "9914"
            receipt = "PORTED_NUM"
            reject = true
            status = "ESME_RINVDSTADR"
            """
        )
    )

    assert config.simulator.rules == (
        SimulatorRule("suffix", "9913", "success", retries=1, status="ESME_RMSGQFUL"),
        SimulatorRule("suffix", "9914", "PORTED_NUM", reject=True, status="ESME_RINVDSTADR"),
    )


def test_a_rules_file_is_the_simulator_table_of_a_config_file(toml: WriteToml) -> None:
    path = toml(
        """
        [server]
        http_port = 9000  # smsgate's own settings may be there too: they are left alone

        [simulator]
        delay_ms = 7
        [[simulator.rules]]
        match = "prefix"
        value = "62"
        receipt = "INVALID_NUM"
        reject = true
        """
    )

    assert load_simulator_config(path) == SimulatorConfig(
        delay_ms=7, rules=(SimulatorRule("prefix", "62", "INVALID_NUM", reject=True),)
    )


def test_a_rules_file_without_rules_keeps_the_default_ones(toml: WriteToml) -> None:
    assert load_simulator_config(toml("[simulator]\ndelay_ms = 5\n")) == SimulatorConfig(delay_ms=5)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('[[rules]]\nmatch = "suffix"\nvalue = "1"\nreceipt = "INVALID_NUM"\n', "no [simulator]"),
        ("[simulator]\ndelay = 5\n", "unknown settings in [simulator]: delay"),
        ('[[simulator.rules]]\nmatch = "suffix"\nvalue = "1"\nreceipt = "NOPE"\n', "#1"),
        ("[simulator\n", "cannot read rules file"),
    ],
)
def test_a_bad_rules_file_is_refused_with_the_reason(
    toml: WriteToml, text: str, complaint: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_simulator_config(toml(text))
    assert complaint in str(caught.value)


def test_a_missing_rules_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read rules file"):
        load_simulator_config(tmp_path / "nowhere.toml")


def test_configured_rules_replace_the_defaults(toml: WriteToml) -> None:
    config = load_config(
        toml('[[simulator.rules]]\nmatch = "suffix"\nvalue = "1"\nreceipt = "INVALID_NUM"\n')
    )
    assert config.simulator.rules == (SimulatorRule("suffix", "1", "INVALID_NUM"),)
    assert config.simulator.delay_ms == SimulatorConfig().delay_ms


def test_an_empty_rule_list_means_every_message_is_delivered(toml: WriteToml) -> None:
    assert load_config(toml("[simulator]\nrules = []\n")).simulator.rules == ()


@pytest.mark.parametrize("receipt", ["NOT_A_CODE", "isv.MOBILE_NUMBER_ILLEGAL", "SUCCESS", ""])
def test_an_unknown_receipt_is_refused(toml: WriteToml, receipt: str) -> None:
    message = refused(
        toml(f'[[simulator.rules]]\nmatch = "suffix"\nvalue = "1"\nreceipt = "{receipt}"\n')
    )
    assert "#1" in message
    assert "receipt must be one of" in message
    assert "INVALID_NUM" in message  # it lists what is allowed


def test_every_catalog_receipt_is_a_valid_rule(toml: WriteToml) -> None:
    codes = [c.code for c in errors.RECEIPT_CODES] + ["success", "EXPIRED"]
    text = "".join(
        f'[[simulator.rules]]\nmatch = "suffix"\nvalue = "{i}"\nreceipt = "{code}"\n'
        for i, code in enumerate(codes)
    )
    assert [r.receipt for r in load_config(toml(text)).simulator.rules] == codes


_REJECTING = 'match = "suffix"\nvalue = "1"\nreceipt = "INVALID_NUM"\nreject = true\n'


@pytest.mark.parametrize(
    ("rule", "complaint"),
    [
        ('match = "regex"\nvalue = "1"\nreceipt = "INVALID_NUM"', "match must be"),
        ('value = "1"\nreceipt = "INVALID_NUM"', "match must be"),
        ('match = "suffix"\nvalue = "1"\nreceipt = "INVALID_NUM"\ndelay_ms = -1', "delay_ms"),
        ('match = "suffix"\nvalue = "1"\nreceipt = "INVALID_NUM"\ndelay_ms = 0.5', "delay_ms"),
        ('match = "suffix"\nvalue = "1"\nreceipt = "INVALID_NUM"\nreject = "yes"', "reject"),
        ('match = "suffix"\nvalue = "1"\nreceipt = "success"\nreject = true', "failure"),
        ('match = "suffix"\nvalue = "1"\nreceipt = "EXPIRED"\nreject = true', "failure"),
        ('match = "suffix"\nvalue = "1"\nreceipt = "success"\nretries = -1', "retries"),
        ('match = "suffix"\nvalue = "1"\nreceipt = "success"\nretries = true', "retries"),
        ('match = "suffix"\nvalue = "1"\nreceipt = "success"\nstatus = "ESME_RMSGQFUL"', "status"),
        (
            _REJECTING + 'status = "NOPE"',
            "status must be the name",
        ),
        (
            _REJECTING + 'status = "ESME_ROK"',
            "status must be the name",
        ),
        (
            'match = "suffix"\nvalue = "1"\nreceipt = "success"\nretries = 1\nstatus = 20',
            "status must be the name",
        ),
    ],
)
def test_a_malformed_rule_is_refused_with_its_number(
    toml: WriteToml, rule: str, complaint: str
) -> None:
    good = '[[simulator.rules]]\nmatch = "suffix"\nvalue = "0"\nreceipt = "success"\n'
    message = refused(toml(f"{good}[[simulator.rules]]\n{rule}\n"))
    assert "#2" in message
    assert complaint in message


# -- overrides -------------------------------------------------------------------------------


def test_overrides_beat_the_file(toml: WriteToml, tmp_path: Path) -> None:
    path = toml('[server]\nhost = "10.0.0.1"\nhttp_port = 1000\nsmpp_port = 2000\nnode_id = 3\n')

    config = load_config(
        path, http_port=9000, host="127.0.0.2", data_dir=tmp_path / "cli", smpp_port=None
    )

    assert (config.server.host, config.server.http_port) == ("127.0.0.2", 9000)
    assert config.server.smpp_port == 2000  # None means "not given": the file's value stays
    assert config.server.node_id == 3
    assert config.server.data_dir == tmp_path / "cli"


def test_overrides_apply_without_a_file() -> None:
    config = load_config(None, http_port=0)
    assert config.server.http_port == 0
    assert config.server.smpp_port == ServerConfig().smpp_port


def test_overrides_are_validated(toml: WriteToml) -> None:
    assert "http_port" in refused(toml("[server]\nhttp_port = 8080\n"), http_port=70000)


# -- found while testing: validation gaps --------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '[pipeline]\nqueue_size = "100"\n',
        "[pipeline]\nqueue_size = true\n",
        "[pipeline]\nmax_segments = 1.5\n",
        '[callbacks]\ntimeout_s = "10"\n',
        "[server]\nhttp_port = true\n",
        "[server]\nhost = 5\n",
    ],
    ids=[
        "queue_size-str",
        "queue_size-bool",
        "max_segments-float",
        "timeout_s-str",
        "http_port-bool",
        "host-int",
    ],
)
def test_values_of_the_wrong_type_are_refused(toml: WriteToml, text: str) -> None:
    with pytest.raises(ConfigError):
        load_config(toml(text))


@pytest.mark.parametrize(
    "text",
    [
        '[[simulator.rules]]\nmatch = "suffix"\nreceipt = "INVALID_NUM"\n',  # KeyError 'value'
        "[simulator]\nrules = [1]\n",  # AttributeError
        '[simulator]\nrules = "9901"\n',  # AttributeError
        "server = 5\n",  # TypeError
        '[server]\nnode_id = "3"\n',  # TypeError
        "[server]\ndata_dir = 5\n",  # TypeError
    ],
    ids=[
        "rule-without-value",
        "rule-not-a-table",
        "rules-not-a-list",
        "server-not-a-table",
        "node_id-str",
        "data_dir-int",
    ],
)
def test_malformed_input_is_a_config_error(toml: WriteToml, text: str) -> None:
    with pytest.raises(ConfigError):
        load_config(toml(text))


def test_an_unknown_key_in_a_rule_is_refused(toml: WriteToml) -> None:
    text = '[[simulator.rules]]\nmatch = "suffix"\nvalue = "1"\nreceipt = "INVALID_NUM"\n'
    with pytest.raises(ConfigError):
        load_config(toml(text + "delay = 5\n"))


@pytest.mark.parametrize("line", ["max_body_bytes = 0", "timestamp_skew_s = -1"])
def test_server_sizes_must_be_positive(toml: WriteToml, line: str) -> None:
    with pytest.raises(ConfigError):
        load_config(toml(f"[server]\n{line}\n"))


@pytest.mark.parametrize(
    ("text", "micros", "shown"),
    [("100", 100_000_000, "100"), ("0.05", 50_000, "0.05"), ("12.345678", 12_345_678, "12.345678")],
)
def test_money_round_trips(text: str, micros: int, shown: str) -> None:
    assert parse_money(text) == micros
    assert format_money(micros) == shown


@pytest.mark.parametrize("text", ["-1", "abc", "1.0000001", "NaN"])
def test_bad_money_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"amount|decimal"):
        parse_money(text)


def test_the_store_and_redis_urls_come_from_the_command_line_the_environment_or_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "smsgate.toml"
    path.write_text(
        '[store]\nurl = "postgresql://file@db/smsgate"\n[redis]\nurl = "redis://file:6379/0"\n'
    )
    from_file = load_config(path, environ={})
    assert (from_file.store.url, from_file.redis.url) == (
        "postgresql://file@db/smsgate",
        "redis://file:6379/0",
    )
    env = {"SMSGATE_STORE_URL": "postgres://env@db/x", "SMSGATE_REDIS_URL": "rediss://env:6380"}
    from_env = load_config(path, environ=env)
    assert (from_env.store.url, from_env.redis.url) == ("postgres://env@db/x", "rediss://env:6380")
    given = load_config(path, environ=env, store_url="postgresql://cli@db/y", redis_url="")
    assert (given.store.url, given.redis.url) == ("postgresql://cli@db/y", "")
    assert load_config(environ={}).store.url == ""  # the embedded default: SQLite


@pytest.mark.parametrize(
    ("setting", "value"),
    [("store_url", "mysql://root:hunter2@db/x"), ("redis_url", "http://user:hunter2@cache")],
)
def test_a_url_of_the_wrong_kind_is_refused_without_echoing_it(setting: str, value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(environ={}, **{setting: value})
    assert "must be a URL starting with" in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_a_password_in_a_url_stays_out_of_the_configs_repr() -> None:
    config = load_config(
        environ={}, store_url="postgresql://u:hunter2@db/x", redis_url="redis://:hunter2@cache"
    )
    assert "hunter2" not in repr(config)


@pytest.mark.parametrize(
    "overrides",
    [{"workers": 2}, {"role": "api"}, {"workers": 2, "store_url": "postgresql://db/x"}],
)
def test_several_processes_or_a_part_alone_need_the_shared_store_and_counters(
    overrides: dict[str, object],
) -> None:
    with pytest.raises(ConfigError, match="every process shares"):
        load_config(environ={}, **overrides)


def test_the_workers_node_ids_must_fit() -> None:
    with pytest.raises(ConfigError, match="node ids 1020-1027, beyond 1023"):
        load_config(
            environ={},
            node_id=1020,
            workers=8,
            store_url="postgresql://db/x",
            redis_url="redis://cache",
        )
