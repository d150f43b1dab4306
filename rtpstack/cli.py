"""The ``rtpstack`` command: one entry point, one sub-command per tool.

Each sub-command lives in its own module, which provides ``add_arguments(parser)`` and
``run(args) -> int``; this module only wires them together and turns input errors into one
readable line and a non-zero exit status instead of a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Protocol

__all__ = ["SUBCOMMANDS", "main"]


class _Tool(Protocol):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


#: name -> (module, one-line help). Modules are imported only when their command runs,
#: except for building ``--help``, so a missing optional dependency of one tool cannot
#: break the others.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "pcap": ("rtpstack.capture.cli", "analyze, replay, decrypt and extract RTP captures"),
    "srtp": ("rtpstack.srtp.cli", "SRTP keys: generate and parse SDES a=crypto lines"),
    "sframe": ("rtpstack.sframe.cli", "SFrame: encrypt/decrypt frames, derive keys from a secret"),
    "loadgen": ("rtpstack.loadgen", "drive a running router with publishers and subscribers"),
}


def _load(module: str) -> _Tool | None:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module == exc.name or module.startswith(exc.name + ".")):
            return None  # this tool is not part of this build yet
        raise
    return mod


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every available sub-command."""
    parser = argparse.ArgumentParser(
        prog="rtpstack",
        description="RTP/RTCP/SRTP/SFrame tools. Run 'rtpstack COMMAND --help' for details.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module, help_text) in SUBCOMMANDS.items():
        tool = _load(module)
        if tool is None:
            continue
        p = sub.add_parser(name, help=help_text, description=help_text)
        tool.add_arguments(p)
        p.set_defaults(_tool=tool)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``rtpstack``; return the exit status (0 ok, 1 failure, 2 bad usage or input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    tool: _Tool = args._tool
    try:
        return tool.run(args)
    except KeyboardInterrupt:
        print("rtpstack: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as exc:
        # ParseError, SrtpError, SFrameError and bad arguments are all ValueErrors;
        # missing files and network errors are OSErrors. One line, no traceback.
        print(f"rtpstack {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
