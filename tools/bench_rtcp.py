"""RTCP parse/serialize benchmark: rtpstack.rtcp against aiortc's RTCP parser, one process, one run.

Packets: the real browser RTCP vectors of the shared corpus (janus/aiortc files) when the
corpus is next to the checkout, else equivalent packets built here. Only packets that aiortc
also parses are timed, so both sides do the same work. Prints packets/s and the ratio to
aiortc measured in the same run (numbers are noisy on shared cores: compare within a run).

    .venv/bin/python tools/bench_rtcp.py [--seconds 1] [--rounds 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from rtpstack.rtcp import (
    SDES_CNAME,
    Bye,
    GenericNack,
    Pli,
    ReceiverReport,
    Remb,
    ReportBlock,
    SdesChunk,
    SdesItem,
    SenderReport,
    SourceDescription,
    TransportCcFeedback,
    parse_compound,
    serialize_compound,
)

__all__ = ["main"]

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus" / "vectors"
CORPUS_FILES = [
    "janus__sr-sdes.rtcp",
    "janus__rr.rtcp",
    "janus__rr-sdes-bye.rtcp",
    "janus__rr-remb.rtcp",
    "janus__nacks.rtcp",
    "janus__pli.rtcp",
    "janus__fir.rtcp",
    "janus__remb.rtcp",
    "aiortc__rtcp_sr.bin",
    "aiortc__rtcp_rtpfb.bin",
    "aiortc__rtcp_sdes.bin",
]


def _built_packets() -> list[bytes]:
    cname = SourceDescription((SdesChunk(0xAE657257, (SdesItem(SDES_CNAME, b"x" * 16),)),))
    block = ReportBlock(0xAE657257, 0, 0, 15044, 466, 0xA50998AB, 1115)
    return [
        serialize_compound([SenderReport(1, 2**63, 2, 3, 4, (block,)), cname]),
        bytes(ReceiverReport(2, (block,))),
        serialize_compound([ReceiverReport(2), cname, Bye((2,))]),
        serialize_compound([ReceiverReport(2, (block,)), Remb.from_bitrate(2, 2_791_744, (9,))]),
        bytes(GenericNack.from_lost(1, 2, [43087, 43091])),
        bytes(Pli(1, 2)),
    ]


def _rate(fn: Callable[[], object], count: int, seconds: float) -> float:
    """Items per second of ``fn`` (which handles ``count`` items per call)."""
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            fn()
        calls += 50
        now = time.perf_counter()
        if now >= deadline:
            return calls * count / (now - start)


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per row")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per row")
    args = parser.parse_args()

    from aiortc.rtp import RtcpPacket as AiortcRtcp

    source = "built here"
    datagrams = _built_packets()
    if all((CORPUS / f).exists() for f in CORPUS_FILES):
        datagrams = [(CORPUS / f).read_bytes() for f in CORPUS_FILES]
        source = "shared corpus (janus/aiortc vectors)"
    usable: list[bytes] = []
    for data in datagrams:
        try:
            AiortcRtcp.parse(data)
        except Exception:
            continue
        usable.append(data)
    n = len(usable)
    ours = [parse_compound(d) for d in usable]
    theirs = [AiortcRtcp.parse(d) for d in usable]
    assert [serialize_compound(p) for p in ours] == usable

    twcc_wire = bytes(TransportCcFeedback.build(1, 2, 65000, 3, 100, [4, None, 300, 1] * 25))

    def parse_ours() -> None:
        for d in usable:
            parse_compound(d)

    def parse_aiortc() -> None:
        for d in usable:
            AiortcRtcp.parse(d)

    def ser_ours() -> None:
        for p in ours:
            serialize_compound(p)

    def ser_aiortc() -> None:
        for packets in theirs:
            b"".join(bytes(p) for p in packets)

    def twcc_decode() -> None:
        (fb,) = parse_compound(twcc_wire)
        assert isinstance(fb, TransportCcFeedback)
        fb.packets()

    cases: list[tuple[str, Callable[[], object], int, str]] = [
        ("parse  aiortc RtcpPacket.parse", parse_aiortc, n, "parse"),
        ("parse  rtpstack parse_compound", parse_ours, n, "parse"),
        ("build  aiortc bytes(packet)", ser_aiortc, n, "build"),
        ("build  rtpstack serialize_compound", ser_ours, n, "build"),
        ("TWCC 100-packet feedback parse+decode", twcc_decode, 1, ""),
    ]
    # interleaved rounds, best round kept: load from other processes hits all rows alike
    best = {name: 0.0 for name, _, _, _ in cases}
    for _ in range(args.rounds):
        for name, fn, count, _kind in cases:
            best[name] = max(best[name], _rate(fn, count, args.seconds / args.rounds))
    rows = [(name, best[name], kind) for name, _, _, kind in cases]
    base = {kind: rate for name, rate, kind in rows if "aiortc" in name}
    print(
        f"RTCP benchmark: {n} datagrams from the {source}, {args.seconds:g} s per row "
        f"in {args.rounds} interleaved rounds (best round shown)"
    )
    print(f"{'what':40} {'datagrams/s':>14} {'vs aiortc':>10}")
    for name, rate, kind in rows:
        ratio = f"{rate / base[kind]:.2f}x" if kind else "-"
        print(f"{name:40} {rate:14,.0f} {ratio:>10}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
