"""Router configuration: defaults, TOML < environment < flags, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.__main__ import build_parser
from router.config import (
    DEFAULT_API_KEY,
    SETTINGS,
    ConfigError,
    PortRange,
    RouterConfig,
    load_config,
)


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "router.toml"
    path.write_text(text)
    return path


def test_defaults_bind_localhost_and_flag_dev_credentials() -> None:
    config = load_config()
    assert config == RouterConfig()
    assert config.host == "127.0.0.1"
    assert config.port == 8780
    assert config.media_ports == PortRange(40000, 40000)
    assert config.api_key == DEFAULT_API_KEY
    assert config.uses_default_credentials
    assert config.advertised_media_host == "127.0.0.1"


@pytest.mark.parametrize(
    ("use_toml", "env_port", "flag_port", "expected"),
    [
        (False, None, None, 8780),
        (True, None, None, 9000),
        (True, "9001", None, 9001),
        (True, "9001", "9002", 9002),
        (False, "9001", None, 9001),
        (False, None, "9002", 9002),
        (True, None, "9002", 9002),
    ],
)
def test_precedence_defaults_toml_env_flags(
    tmp_path: Path, use_toml: bool, env_port: str | None, flag_port: str | None, expected: int
) -> None:
    path = _toml(tmp_path, "[server]\nport = 9000\n") if use_toml else None
    env = {"RTP_ROUTER_PORT": env_port} if env_port else {}
    args = build_parser().parse_args(["--port", flag_port] if flag_port else [])
    config = load_config(config_file=path, env=env, flags=args)
    assert config.port == expected


def test_every_source_sets_every_kind_of_value(tmp_path: Path) -> None:
    path = _toml(tmp_path, """
[server]
host = "127.0.0.2"
drain_timeout = 1.5
[media]
ports = "41000-41009"
[auth]
api_key = "k1"
api_secret = "s1"
clock_skew = 5
[log]
format = "json"
level = "debug"
[e2ee]
default = true
[archive]
dir = "rec"
""")
    config = load_config(config_file=path)
    assert (config.host, config.drain_timeout, config.media_ports) == (
        "127.0.0.2", 1.5, PortRange(41000, 41009))
    assert (config.api_key, config.api_secret, config.clock_skew) == ("k1", "s1", 5)
    assert (config.log_format, config.log_level, config.e2ee_default) == ("json", "debug", True)
    assert config.archive_dir == "rec"
    assert not config.uses_default_credentials
    env = {"RTP_ROUTER_E2EE_DEFAULT": "off", "RTP_ROUTER_MEDIA_PORTS": "42000",
           "RTP_ROUTER_E2EE_REQUIRE": "yes"}
    config = load_config(config_file=path, env=env)
    assert (config.e2ee_default, config.e2ee_require) == (False, True)
    assert config.media_ports == PortRange(42000, 42000)
    args = build_parser().parse_args(["--e2ee-default", "--no-e2ee-require", "--api-key", "k3"])
    config = load_config(config_file=path, env=env, flags=args)
    assert (config.e2ee_default, config.e2ee_require, config.api_key) == (True, False, "k3")


def test_config_file_from_environment_variable(tmp_path: Path) -> None:
    path = _toml(tmp_path, "[log]\nformat = 'json'\n")
    assert load_config(env={"RTP_ROUTER_CONFIG": str(path)}).log_format == "json"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("40000", PortRange(40000, 40000)),
        (" 40000-40099 ", PortRange(40000, 40099)),
        (0, PortRange(0, 0)),
        (5004, PortRange(5004, 5004)),
    ],
)
def test_port_range_parse(text: object, expected: PortRange) -> None:
    assert PortRange.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("40100-40000", "port range ends before it starts: '40100-40000'"),
        ("0-10", "port 0 (any free port) cannot start a range: '0-10'"),
        ("70000", "ports must be from 0 to 65535, got '70000'"),
        ("abc", "expected a port or a range like 40000-40099, got 'abc'"),
        (True, "expected a port or a range like 40000-40099, got True"),
    ],
)
def test_port_range_errors(text: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        PortRange.parse(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("toml", "env", "flags", "message"),
    [
        ("[server]\nhots = 'x'\n", {}, [],
         "config file {path}: unknown key 'hots' in [server]"),
        ("[srv]\nport = 1\n", {}, [], "config file {path}: unknown section [srv]"),
        ("[server]\nport = 'eighty'\n", {}, [],
         "config file {path}: [server] port: expected an integer from 0 to 65535, got 'eighty'"),
        ("[server]\nport = true\n", {}, [],
         "config file {path}: [server] port: expected an integer from 0 to 65535, got True"),
        ("[log]\nformat = 'xml'\n", {}, [],
         "config file {path}: [log] format: expected one of text, json, got 'xml'"),
        ("[server\n", {}, [], "config file {path} is not valid TOML: "),
        (None, {"RTP_ROUTER_PORT": "-1"}, [],
         "environment variable RTP_ROUTER_PORT: expected an integer from 0 to 65535, got -1"),
        (None, {"RTP_ROUTER_E2EE_DEFAULT": "maybe"}, [],
         "environment variable RTP_ROUTER_E2EE_DEFAULT: expected true or false, got 'maybe'"),
        (None, {"RTP_ROUTER_PROT": "1"}, [], "unknown environment variable RTP_ROUTER_PROT"),
        (None, {}, ["--clock-skew", "9999"],
         "--clock-skew: expected an integer from 0 to 600, got 9999"),
        (None, {}, ["--api-secret", ""], "--api-secret: must not be empty"),
        (None, {}, ["--token-ttl", "100000"],
         "token_ttl (100000) is longer than max_token_ttl (86400)"),
    ],
)
def test_bad_config_is_one_readable_line(
    tmp_path: Path, toml: str | None, env: dict[str, str], flags: list[str], message: str
) -> None:
    path = _toml(tmp_path, toml) if toml is not None else None
    with pytest.raises(ConfigError) as info:
        load_config(config_file=path, env=env, flags=build_parser().parse_args(flags))
    text = str(info.value)
    assert "\n" not in text
    assert isinstance(info.value, ValueError)
    assert text.startswith(message.format(path=path)), text


def test_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(config_file=missing)
    assert str(info.value) == f"cannot read config file {missing}: No such file or directory"


def test_every_setting_has_a_flag_env_and_toml_key() -> None:
    help_text = " ".join(build_parser().format_help().split())
    for setting in SETTINGS:
        assert setting.flag in help_text
        assert setting.env in help_text
        assert f"[{setting.section}] {setting.key}" in help_text
        assert hasattr(RouterConfig(), setting.field)


def test_last_n_reaches_the_forwarding_core(tmp_path: Path) -> None:
    """[media] last_n configures the media plane the process runs with (0 means no limit)."""
    from router.media import create_media_plane

    path = _toml(tmp_path, "[media]\nlast_n = 3\n")
    config = load_config(config_file=path)
    assert config.last_n == 3
    assert create_media_plane(config).core.last_n == 3
    assert create_media_plane(load_config()).core.last_n is None
    assert load_config(env={"RTP_ROUTER_LAST_N": "2"}).last_n == 2
    with pytest.raises(ConfigError, match="RTP_ROUTER_LAST_N: expected an integer from 0 to 1000"):
        load_config(env={"RTP_ROUTER_LAST_N": "-1"})
