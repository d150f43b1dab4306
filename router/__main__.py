"""``rtp-router`` / ``python -m router``: run the media router.

With no arguments it starts on 127.0.0.1 with built-in defaults. A TOML file (``--config``),
``RTP_ROUTER_*`` environment variables and flags override the defaults, in that order; see
``rtp-router --help`` and ``docs/router.md``. A bad setting prints one line and exits 2;
SIGTERM drains the signaling sockets and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from router.app import serve
from router.config import ENV_PREFIX, ConfigError, add_config_arguments, load_config
from router.logs import setup_logging

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: ``--config`` plus one flag per setting."""
    parser = argparse.ArgumentParser(
        prog="rtp-router",
        description=(
            "Run the payload-blind media router (SFU): HTTP API under /v1, signaling WebSocket "
            "at /ws, Prometheus metrics at /metrics, health at /healthz. Settings come from "
            f"built-in defaults, then --config FILE (TOML), then {ENV_PREFIX}* environment "
            "variables, then these flags; each flag's help names its TOML key and variable."
        ),
        epilog="SIGTERM or Ctrl-C: tell every client, close the sockets, exit 0.",
    )
    add_config_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``rtp-router``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        config = load_config(env=os.environ, flags=args)
    except ConfigError as exc:
        print(f"rtp-router: error: {exc}", file=sys.stderr)
        return 2
    setup_logging(config.log_format, config.log_level)
    try:
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
            asyncio.run(serve(config))
        else:
            uvloop.run(serve(config))
    except OSError as exc:
        print(f"rtp-router: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover - a second Ctrl-C during the drain
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
