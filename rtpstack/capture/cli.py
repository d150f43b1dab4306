"""``rtpstack pcap analyze|replay|decrypt|extract``: the capture tools on the command line.

Errors in the input (bad files, bad options) are ``ValueError``/``OSError`` and become one
line on stderr with a non-zero exit status (``rtpstack.cli`` prints them).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from rtpstack.capture.analysis import CaptureAnalysis, analyze_file
from rtpstack.capture.convert import decrypt_capture, extract_capture
from rtpstack.capture.detect import Hints, hints_from_sdp, parse_clock_rate_option
from rtpstack.capture.reader import is_capture_name
from rtpstack.capture.replay import Replayer, ReplayOptions, ReplayPlan, ReplaySummary
from rtpstack.capture.report import render_csv, render_json, render_table
from rtpstack.capture.srtpkeys import DEFAULT_SDES_PROFILE, parse_ssrc, parse_ssrc_key
from rtpstack.srtp import SrtpKeyingMaterial, SrtpProfile

__all__ = ["add_arguments", "capture_files", "run", "sidecar_sdp"]


def _add_detection(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("finding RTP/RTCP")
    g.add_argument("--sdp", metavar="FILE", action="append", default=[],
                   help="SDP file announcing the media: its ports become RTP/RTCP flows and "
                        "its a=rtpmap lines give clock rates (repeatable; NAME.sdp beside "
                        "NAME.pcapng is read automatically by analyze)")
    g.add_argument("--port", metavar="N", type=int, action="append", default=[],
                   help="UDP port carrying RTP/RTCP, even where the heuristics say no "
                        "(repeatable)")
    g.add_argument("--pt", metavar="PT", type=int, action="append", default=[],
                   help="keep only RTP packets of this payload type (repeatable)")
    g.add_argument("--clock-rate", metavar="PT=HZ", action="append", default=[],
                   help="RTP clock rate of a payload type, for jitter (e.g. 111=48000; "
                        "repeatable; static types 0-34 are known)")
    g.add_argument("--no-heuristics", action="store_true",
                   help="find media only through --port/--sdp (and SDP inside SIP in the "
                        "capture), not by looking at packets")


def _add_keys(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("--key", metavar="[SSRC=]KEY", action="append", default=[],
                   required=required,
                   help="SRTP master key: 'inline:BASE64', a whole 'a=crypto:' line, "
                        "'SUITE inline:BASE64', or hex key+salt; prefix 'SSRC=' (decimal or "
                        "0x-hex) to bind it to one stream (repeatable)")
    p.add_argument("--profile", default=DEFAULT_SDES_PROFILE.value,
                   choices=[m.value for m in SrtpProfile],
                   help="SRTP suite for bare inline:/hex keys (default %(default)s)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``pcap`` sub-commands."""
    sub = parser.add_subparsers(dest="pcap_command", metavar="ACTION")
    sub.required = True

    a = sub.add_parser(
        "analyze", help="per-stream RTP statistics and RTCP counts (table, JSON, CSV, plots)",
        description="Analyse captures: for every RTP stream (5-tuple + SSRC) packets, "
                    "expected, lost, sequence errors, duplicates, max delta, jitter (RFC 3550 "
                    "A.8), bitrate; for every RTCP sender SR/RR/NACK/PLI/FIR/REMB/TWCC counts "
                    "and round-trip time. pcap, pcapng and their .gz open transparently.")
    a.add_argument("paths", nargs="+", metavar="CAPTURE",
                   help="capture files, or directories (every *.pcap/*.pcapng[.gz] inside)")
    out = a.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true",
                     help="print JSON instead of the table (an object for one capture file, "
                          "a list for several files or a directory)")
    out.add_argument("--csv", action="store_true", help="print CSV (one row per stream)")
    a.add_argument("--plot", metavar="DIR",
                   help="also write PNG plots (sequence, jitter, loss over time per stream; "
                        "bitrate per stream) into DIR")
    _add_detection(a)
    _add_keys(a, required=False)
    a.set_defaults(pcap_run=_run_analyze)

    r = sub.add_parser(
        "replay", help="send the RTP/RTCP of a capture to a UDP target",
        description="Replay the RTP/RTCP streams of a capture with their original timing "
                    "(or faster, or as fast as possible), optionally rewriting SSRC, payload "
                    "type and ports, looping, and SRTP-protecting. Prints a progress bar and "
                    "a summary (sent, late, errors) on stderr.")
    r.add_argument("path", metavar="CAPTURE", help="capture file to replay")
    r.add_argument("--target", metavar="HOST:PORT", required=True,
                   help="where RTP goes (and RTCP too unless --rtcp-port)")
    r.add_argument("--rtcp-port", type=int, metavar="N",
                   help="send RTCP to this port instead of the RTP port")
    r.add_argument("--port-map", metavar="CAPTURED=TARGET", action="append", default=[],
                   help="send what the capture sent to port CAPTURED to port TARGET instead "
                        "(repeatable)")
    speed = r.add_mutually_exclusive_group()
    speed.add_argument("--speed", type=float, default=1.0,
                       help="time factor: 2 = twice as fast (default 1, original timing)")
    speed.add_argument("--fast", action="store_true", help="as fast as possible, no pacing")
    r.add_argument("--ssrc", action="append", default=[], metavar="SSRC",
                   help="replay only this stream (decimal or 0x-hex; repeatable)")
    r.add_argument("--rewrite-ssrc", action="append", default=[], metavar="OLD=NEW",
                   help="send stream OLD with SSRC NEW (repeatable)")
    r.add_argument("--rewrite-pt", action="append", default=[], metavar="OLD=NEW",
                   help="change payload type OLD to NEW (repeatable)")
    r.add_argument("--loop", type=int, default=1, metavar="N",
                   help="play the capture N times, continuing sequence numbers and timestamps")
    r.add_argument("--no-rtcp", action="store_true", help="send RTP only")
    r.add_argument("--srtp-key", metavar="KEY",
                   help="SRTP-protect everything with this master key (same forms as --key)")
    r.add_argument("--profile", default=DEFAULT_SDES_PROFILE.value,
                   choices=[m.value for m in SrtpProfile],
                   help="SRTP suite for a bare inline:/hex key (default %(default)s)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_detection(r)
    r.set_defaults(pcap_run=_run_replay)

    d = sub.add_parser(
        "decrypt", help="write a capture with SRTP/SRTCP decrypted",
        description="Decrypt SRTP/SRTCP in a capture with the given keys and write the media "
                    "as plain RTP/RTCP over UDP into a pcapng file (original times and "
                    "addresses). Packets that fail authentication are left out and counted.")
    d.add_argument("path", metavar="CAPTURE", help="capture holding SRTP/SRTCP")
    d.add_argument("-o", "--output", required=True, metavar="OUT.pcapng",
                   help="pcapng file to write the decrypted media to")
    _add_keys(d, required=True)
    _add_detection(d)
    d.set_defaults(pcap_run=_run_decrypt)

    e = sub.add_parser(
        "extract", help="write chosen RTP streams (and their RTCP) to a new capture",
        description="Copy the RTP/RTCP of the chosen streams (all by default) into a pcapng "
                    "file as plain UDP, with TURN framing removed and fragments reassembled.")
    e.add_argument("path", metavar="CAPTURE", help="capture to read")
    e.add_argument("-o", "--output", required=True, metavar="OUT.pcapng",
                   help="pcapng file to write the chosen streams to")
    e.add_argument("--ssrc", action="append", default=[], metavar="SSRC",
                   help="stream to keep (decimal or 0x-hex; repeatable; default all)")
    e.add_argument("--no-rtcp", action="store_true", help="leave RTCP out")
    _add_detection(e)
    e.set_defaults(pcap_run=_run_extract)


def _hints(args: argparse.Namespace) -> Hints:
    hints = Hints(heuristics=not args.no_heuristics)
    hints.ports.update(args.port)
    hints.payload_types.update(args.pt)
    for sdp in args.sdp:
        hints.merge(hints_from_sdp(Path(sdp).read_text(encoding="utf-8", errors="replace")))
    for item in args.clock_rate:
        pt, hz = parse_clock_rate_option(item)
        hints.clock_rates[pt] = hz
    return hints


def _keys(items: list[str], profile: str) -> dict[int | None, SrtpKeyingMaterial]:
    keys: dict[int | None, SrtpKeyingMaterial] = {}
    for item in items:
        ssrc, k = parse_ssrc_key(item, SrtpProfile(profile))
        keys[ssrc] = k
    return keys


def _pairs(items: list[str], what: str, conv: type[int] | None = None) -> dict[int, int]:
    out: dict[int, int] = {}
    for item in items:
        old, sep, new = item.partition("=")
        if not sep:
            raise ValueError(f"bad {what} {item!r}: expected OLD=NEW")
        out[parse_ssrc(old)] = parse_ssrc(new)
    return out


def sidecar_sdp(capture: Path) -> Path | None:
    """``name.sdp`` beside ``name.pcap[ng][.gz]``, if there is one (used automatically)."""
    name = capture.name
    for suffix in (".gz", ".pcapng", ".pcap", ".cap"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    sdp = capture.with_name(name + ".sdp")
    return sdp if sdp.is_file() else None


def capture_files(paths: list[str]) -> list[Path]:
    """Expand directories into the capture files they hold (sorted); keep files as given."""
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and is_capture_name(f.name))
            if not found:
                raise ValueError(f"{p}: no capture files (*.pcap, *.pcapng, .gz) in directory")
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or directory")
    return files


def _run_analyze(args: argparse.Namespace) -> int:
    hints = _hints(args)
    keys = _keys(args.key, args.profile)
    analyses: list[CaptureAnalysis] = []
    for f in capture_files(args.paths):
        file_hints = _copy(hints)
        sidecar = sidecar_sdp(f)
        if sidecar is not None:
            file_hints.merge(hints_from_sdp(sidecar.read_text(encoding="utf-8", errors="replace")))
        try:
            a = analyze_file(f, file_hints, keep_series=bool(args.plot), srtp_keys=keys)
        except ValueError as exc:
            raise ValueError(f"{f}: {exc}") from None
        analyses.append(a)
        if args.plot:
            from rtpstack.capture.plot import plot_analysis

            for png in plot_analysis(a, args.plot):
                print(f"wrote {png}", file=sys.stderr)
    if args.json:
        single_file = len(args.paths) == 1 and not Path(args.paths[0]).is_dir()
        print(render_json(analyses, as_list=not single_file))
    elif args.csv:
        sys.stdout.write(render_csv(analyses))
    else:
        print(render_table(analyses), end="")
    return 0


def _copy(h: Hints) -> Hints:
    return Hints(h.heuristics, set(h.ports), set(h.payload_types), dict(h.clock_rates),
                 dict(h.encodings), set(h.endpoints))


def _progress(done: int, total: int, s: ReplaySummary) -> None:
    width = 30
    filled = width * done // max(total, 1)
    bar = "#" * filled + "." * (width - filled)
    sys.stderr.write(f"\r[{bar}] {done}/{total} sent, late {s.late}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _target(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"bad target {text!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def _run_replay(args: argparse.Namespace) -> int:
    from rtpstack.capture.replay import media_packets
    from rtpstack.capture.srtpkeys import parse_key_spec

    target = _target(args.target)
    options = ReplayOptions(
        speed=0.0 if args.fast else args.speed,
        ssrcs={parse_ssrc(s) for s in args.ssrc},
        rewrite_ssrc=_pairs(args.rewrite_ssrc, "--rewrite-ssrc"),
        rewrite_pt=_pairs(args.rewrite_pt, "--rewrite-pt"),
        loops=args.loop,
        include_rtcp=not args.no_rtcp,
        srtp_key=parse_key_spec(args.srtp_key, SrtpProfile(args.profile))
        if args.srtp_key else None,
    )
    if any(not 0 <= v <= 127 for v in options.rewrite_pt.values()):
        raise ValueError("--rewrite-pt: payload types are 0-127")
    port_map = {int(k): int(v) for k, v in _pairs(args.port_map, "--port-map").items()}
    plan = ReplayPlan(media_packets(args.path, _hints(args)), options)
    if not len(plan):
        raise ValueError(f"{args.path}: no RTP/RTCP packets to replay")

    async def go() -> ReplaySummary:
        progress = None if args.quiet else _progress
        async with Replayer(plan, target, rtcp_port=args.rtcp_port, port_map=port_map,
                            progress=progress) as replayer:
            return await replayer.run()

    try:  # uvloop paces and sends with less overhead where it is installed
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        summary = runner.run(go())
    print(f"replay: {summary}", file=sys.stderr)
    return 0 if summary.errors == 0 else 1


def _run_decrypt(args: argparse.Namespace) -> int:
    result = decrypt_capture(args.path, args.output, _keys(args.key, args.profile), _hints(args))
    failed = sum(v for k, v in result.analysis.drops.items() if "unprotect" in k)
    print(f"decrypt: wrote {result.written} packets to {args.output} "
          f"({result.decrypted} decrypted, {failed} failed authentication)", file=sys.stderr)
    return 0 if result.decrypted else 1


def _run_extract(args: argparse.Namespace) -> int:
    ssrcs = {parse_ssrc(s) for s in args.ssrc}
    result = extract_capture(args.path, args.output, ssrcs, include_rtcp=not args.no_rtcp,
                             hints=_hints(args))
    print(f"extract: wrote {result.written} packets to {args.output}", file=sys.stderr)
    return 0 if result.written else 1


def run(args: argparse.Namespace) -> int:
    """Run the chosen ``pcap`` action."""
    code: int = args.pcap_run(args)
    return code
