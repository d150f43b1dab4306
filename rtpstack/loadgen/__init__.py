"""``rtpstack loadgen``: publishers and subscribers against a running router, measured.

Library use::

    report = await run_load(LoadConfig(url="http://127.0.0.1:8780", publishers=2,
                                       subscribers=4, seconds=5))
    print(format_table(report)); write_json(report, "load.json"); write_plot(report, "load.png")

See ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os

from rtpstack.loadgen.control import ControlError, api_token
from rtpstack.loadgen.report import format_table, write_json, write_plot
from rtpstack.loadgen.runner import LoadConfig, LoadReport, run_load

__all__ = [
    "ControlError",
    "LoadConfig",
    "LoadReport",
    "add_arguments",
    "api_token",
    "format_table",
    "run",
    "run_load",
    "write_json",
    "write_plot",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``rtpstack loadgen`` options."""
    env = os.environ
    parser.add_argument("--url", default="http://127.0.0.1:8780",
                        help="the router's HTTP base URL (default %(default)s)")
    parser.add_argument("--api-key", default=env.get("RTP_ROUTER_API_KEY", "devkey"),
                        help="API key (default $RTP_ROUTER_API_KEY or the dev key)")
    parser.add_argument("--api-secret",
                        default=env.get("RTP_ROUTER_API_SECRET", "devsecret-change-me"),
                        help="API secret (default $RTP_ROUTER_API_SECRET or the dev secret)")
    parser.add_argument("-p", "--publishers", type=int, default=1,
                        help="publishing participants (default %(default)s)")
    parser.add_argument("-s", "--subscribers", type=int, default=1,
                        help="subscribing participants, each subscribed to every publisher")
    parser.add_argument("--room", type=int, metavar="P",
                        help="instead: P participants each publishing and subscribing to all")
    parser.add_argument("-t", "--seconds", type=float, default=5.0,
                        help="media duration (default %(default)s)")
    parser.add_argument("--no-audio", action="store_true", help="publish no audio")
    parser.add_argument("--no-video", action="store_true", help="publish no video")
    parser.add_argument("--video-bitrate", type=int, default=500_000,
                        help="video bits/s per publisher (default %(default)s)")
    parser.add_argument("--fps", type=float, default=30.0, help="video frames/s")
    parser.add_argument("--no-e2ee", action="store_true",
                        help="a session without end-to-end encryption (clear frames)")
    parser.add_argument("--verify", action="store_true",
                        help="subscribers check every packet's SRTP authentication")
    parser.add_argument("--router-pid", type=int,
                        help="router process for CPU use (default: found by its HTTP port)")
    parser.add_argument("--drain", type=float, default=0.5,
                        help="seconds to wait for packets in flight after sending")
    parser.add_argument("--json", metavar="FILE", help="write the report as JSON")
    parser.add_argument("--plot", metavar="FILE.png", help="write a plot (needs matplotlib)")


def run(args: argparse.Namespace) -> int:
    """Run the load; print the table; exit 0 (1 when any subscriber lost >= 1%)."""
    config = LoadConfig(
        url=args.url, api_key=args.api_key, api_secret=args.api_secret,
        publishers=args.room if args.room else args.publishers,
        subscribers=0 if args.room else args.subscribers, room=bool(args.room),
        seconds=args.seconds, audio=not args.no_audio, video=not args.no_video,
        video_bitrate=args.video_bitrate, fps=args.fps, e2ee=not args.no_e2ee,
        verify=args.verify, router_pid=args.router_pid, drain=args.drain,
    )
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is installed where it builds
        report = asyncio.run(run_load(config))
    else:
        report = uvloop.run(run_load(config))
    print(format_table(report))
    if args.json:
        write_json(report, args.json)
    if args.plot:
        write_plot(report, args.plot)
    return 1 if report.totals["loss"] >= 0.01 else 0
