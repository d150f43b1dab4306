"""The router's configuration: built-in defaults, a TOML file, environment variables, flags.

Sources apply in that order, each overriding the one before::

    defaults  <  TOML file (--config / RTP_ROUTER_CONFIG)  <  RTP_ROUTER_* variables  <  flags

Every setting has one row in :data:`SETTINGS`, which names its TOML ``[section] key``, its
environment variable and its command-line flag; ``docs/router.md`` lists them. Any bad value,
unknown key or unreadable file raises :class:`ConfigError` with one readable line that names the
source, so ``rtp-router`` can print it instead of a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_API_SECRET",
    "ENV_PREFIX",
    "SETTINGS",
    "ConfigError",
    "PortRange",
    "RouterConfig",
    "Setting",
    "add_config_arguments",
    "load_config",
]

ENV_PREFIX = "RTP_ROUTER_"
#: Local-development credentials; the router logs a warning when it runs with either of them.
DEFAULT_API_KEY = "devkey"
DEFAULT_API_SECRET = "devsecret-change-me"


class ConfigError(ValueError):
    """A configuration value, key or file is not acceptable (one readable line)."""


@dataclass(frozen=True, slots=True)
class PortRange:
    """UDP ports for media: one port (demultiplexed) or an inclusive range.

    ``PortRange(0, 0)`` means one port picked by the operating system (useful in tests).
    """

    first: int
    last: int

    @classmethod
    def parse(cls, value: object) -> PortRange:
        """Parse ``40000``, ``"40000"`` or ``"40000-40099"``."""
        if isinstance(value, int) and not isinstance(value, bool):
            first = last = value
        elif isinstance(value, str):
            text = value.strip()
            lo, sep, hi = text.partition("-")
            try:
                first = int(lo)
                last = int(hi) if sep else first
            except ValueError:
                raise ConfigError(
                    f"expected a port or a range like 40000-40099, got {value!r}"
                ) from None
        else:
            raise ConfigError(f"expected a port or a range like 40000-40099, got {value!r}")
        if not (0 <= first <= 65535 and 0 <= last <= 65535):
            raise ConfigError(f"ports must be from 0 to 65535, got {value!r}")
        if last < first:
            raise ConfigError(f"port range ends before it starts: {value!r}")
        if first == 0 and last != 0:
            raise ConfigError(f"port 0 (any free port) cannot start a range: {value!r}")
        return cls(first, last)

    @property
    def is_single(self) -> bool:
        """True when media uses one demultiplexed port."""
        return self.first == self.last

    def __str__(self) -> str:
        return str(self.first) if self.is_single else f"{self.first}-{self.last}"


@dataclass(frozen=True, slots=True)
class RouterConfig:
    """Every setting of the router process, with its built-in default."""

    host: str = "127.0.0.1"
    port: int = 8780
    media_host: str = ""
    media_ports: PortRange = PortRange(40000, 40000)
    api_key: str = DEFAULT_API_KEY
    api_secret: str = DEFAULT_API_SECRET
    clock_skew: int = 30
    token_ttl: int = 3600
    max_token_ttl: int = 86400
    log_format: str = "text"
    log_level: str = "info"
    e2ee_default: bool = False
    e2ee_require: bool = False
    archive_dir: str = "archives"
    drain_timeout: float = 5.0
    last_n: int = 0

    @property
    def uses_default_credentials(self) -> bool:
        """True when the API key or secret is the built-in development value."""
        return self.api_key == DEFAULT_API_KEY or self.api_secret == DEFAULT_API_SECRET

    @property
    def advertised_media_host(self) -> str:
        """The address clients send media to (``media_host``, else the HTTP ``host``)."""
        return self.media_host or self.host


# --- value parsers: each takes a TOML value or a string and returns the typed value ----------


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"expected a string, got {value!r}")
    return value


def _nonempty(value: object) -> str:
    text = _str(value)
    if not text:
        raise ConfigError("must not be empty")
    return text


def _int_in(lo: int, hi: int) -> Callable[[object], int]:
    def parse(value: object) -> int:
        if isinstance(value, bool):
            raise ConfigError(f"expected an integer from {lo} to {hi}, got {value!r}")
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise ConfigError(
                    f"expected an integer from {lo} to {hi}, got {value!r}"
                ) from None
        if not isinstance(value, int) or not lo <= value <= hi:
            raise ConfigError(f"expected an integer from {lo} to {hi}, got {value!r}")
        return value

    return parse


def _positive_float(value: object) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"expected a number of seconds, got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ConfigError(f"expected a number of seconds, got {value!r}") from None
    if not isinstance(value, int | float) or not 0 <= value <= 3600:
        raise ConfigError(f"expected a number of seconds from 0 to 3600, got {value!r}")
    return float(value)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(f"expected true or false, got {value!r}")


def _choice(*choices: str) -> Callable[[object], str]:
    def parse(value: object) -> str:
        if not isinstance(value, str) or value.strip().lower() not in choices:
            raise ConfigError(f"expected one of {', '.join(choices)}, got {value!r}")
        return value.strip().lower()

    return parse


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: the config field, where it lives in each source, and how it parses."""

    field: str
    section: str
    key: str
    parse: Callable[[object], Any]
    help: str
    is_bool: bool = False

    @property
    def env(self) -> str:
        """The environment variable, e.g. ``RTP_ROUTER_PORT``."""
        return ENV_PREFIX + self.field.upper()

    @property
    def flag(self) -> str:
        """The command-line flag, e.g. ``--port``."""
        return "--" + self.field.replace("_", "-")


SETTINGS: tuple[Setting, ...] = (
    Setting("host", "server", "host", _nonempty, "address the HTTP/WebSocket server binds"),
    Setting("port", "server", "port", _int_in(0, 65535), "HTTP/WebSocket port (0: any free)"),
    Setting(
        "drain_timeout", "server", "drain_timeout", _positive_float,
        "seconds SIGTERM waits for clients to close before exiting",
    ),
    Setting(
        "media_host", "media", "host", _str,
        "address for media UDP, told to clients (empty: same as host)",
    ),
    Setting(
        "media_ports", "media", "ports", PortRange.parse,
        "UDP port for media (one port, demultiplexed) or a range like 40000-40099",
    ),
    Setting(
        "last_n", "media", "last_n", _int_in(0, 1000),
        "forward each subscriber video only from the N most recent speakers (0: no limit)",
    ),
    Setting("api_key", "auth", "api_key", _nonempty, "project API key (the JWT 'iss')"),
    Setting("api_secret", "auth", "api_secret", _nonempty, "project API secret (HS256 key)"),
    Setting(
        "clock_skew", "auth", "clock_skew", _int_in(0, 600),
        "seconds of clock difference tolerated when checking iat/exp",
    ),
    Setting(
        "token_ttl", "auth", "token_ttl", _int_in(1, 31 * 86400),
        "default lifetime of minted client tokens, in seconds",
    ),
    Setting(
        "max_token_ttl", "auth", "max_token_ttl", _int_in(1, 31 * 86400),
        "longest lifetime a client token may be minted with, in seconds",
    ),
    Setting("log_format", "log", "format", _choice("text", "json"), "log lines: text or json"),
    Setting(
        "log_level", "log", "level", _choice("debug", "info", "warning", "error"),
        "lowest level logged",
    ),
    Setting(
        "e2ee_default", "e2ee", "default", _bool,
        "e2ee value of sessions created without one", is_bool=True,
    ),
    Setting(
        "e2ee_require", "e2ee", "require", _bool,
        "refuse to create sessions without end-to-end encryption", is_bool=True,
    ),
    Setting("archive_dir", "archive", "dir", _nonempty, "folder archives are written to"),
)

_BY_SECTION: dict[str, dict[str, Setting]] = {}
for _s in SETTINGS:
    _BY_SECTION.setdefault(_s.section, {})[_s.key] = _s


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--config`` and one flag per setting; unset flags stay ``None``."""
    parser.add_argument(
        "--config", metavar="FILE", default=None,
        help=f"TOML configuration file (also {ENV_PREFIX}CONFIG)",
    )
    defaults = RouterConfig()
    for s in SETTINGS:
        default = getattr(defaults, s.field)
        shown = str(default) if str(default) else "''"
        text = f"{s.help} (TOML [{s.section}] {s.key}; env {s.env}; default {shown})"
        if s.is_bool:
            parser.add_argument(
                s.flag, dest=s.field, action=argparse.BooleanOptionalAction, default=None,
                help=text,
            )
        else:
            parser.add_argument(s.flag, dest=s.field, default=None,
                                metavar=s.field.split("_")[-1].upper(), help=text)


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    values: dict[str, Any] = {}
    for section, table in data.items():
        known = _BY_SECTION.get(section)
        if known is None:
            raise ConfigError(f"config file {path}: unknown section [{section}]")
        if not isinstance(table, dict):
            raise ConfigError(f"config file {path}: [{section}] must be a table")
        for key, raw in table.items():
            setting = known.get(key)
            if setting is None:
                raise ConfigError(f"config file {path}: unknown key '{key}' in [{section}]")
            try:
                values[setting.field] = setting.parse(raw)
            except ConfigError as exc:
                raise ConfigError(f"config file {path}: [{section}] {key}: {exc}") from None
    return values


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    by_env = {s.env: s for s in SETTINGS}
    values: dict[str, Any] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        setting = by_env.get(name)
        if setting is None:
            raise ConfigError(f"unknown environment variable {name}")
        try:
            values[setting.field] = setting.parse(raw)
        except ConfigError as exc:
            raise ConfigError(f"environment variable {name}: {exc}") from None
    return values


def _from_flags(flags: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for s in SETTINGS:
        raw = flags.get(s.field)
        if raw is None:
            continue
        try:
            values[s.field] = s.parse(raw)
        except ConfigError as exc:
            raise ConfigError(f"{s.flag}: {exc}") from None
    return values


def load_config(
    *,
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | argparse.Namespace | None = None,
) -> RouterConfig:
    """Merge defaults, the TOML file, the environment and flags into one :class:`RouterConfig`.

    ``config_file`` falls back to ``flags['config']`` and then to ``RTP_ROUTER_CONFIG``.
    ``env`` is the environment to read (pass ``os.environ``); ``None`` reads none.
    """
    env = {} if env is None else env
    flag_map: dict[str, Any] = (
        vars(flags) if isinstance(flags, argparse.Namespace) else dict(flags or {})
    )
    path = config_file or flag_map.get("config") or env.get(ENV_PREFIX + "CONFIG") or None
    values: dict[str, Any] = {}
    if path:
        values.update(_from_toml(Path(path)))
    values.update(_from_env(env))
    values.update(_from_flags(flag_map))
    config = dataclasses.replace(RouterConfig(), **values)
    if config.token_ttl > config.max_token_ttl:
        raise ConfigError(
            f"token_ttl ({config.token_ttl}) is longer than max_token_ttl ({config.max_token_ttl})"
        )
    return config
