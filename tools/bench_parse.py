#!/usr/bin/env python3
"""RTP parse/serialize benchmark: this project's typed parser and fast path vs aiortc and dpkt.

Runs everything in one process and one run over the same packets and prints packets/s with
ratios against aiortc's ``RtpPacket.parse`` measured in the same run. Packets are real RTP
packets with header extensions from the external corpus (the Google Meet capture, every RTP
packet with an extension; plus the raw RTP vectors with extensions); without the corpus it
falls back to generated packets with extensions. RTP only (RTCP has its own benchmark).

Usage: ``python tools/bench_parse.py [--seconds S]`` (S = time budget per measurement).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rtpstack import fastpath  # noqa: E402
from rtpstack.demux import PacketKind, classify  # noqa: E402
from rtpstack.errors import ParseError  # noqa: E402
from rtpstack.headerext import HeaderExtension  # noqa: E402
from rtpstack.rtp import RtpPacket  # noqa: E402

CORPUS = ROOT / ".." / "shared" / "corpus"
CAPTURES = ["pcaps/ndpi__stun_google_meet.pcapng", "pcaps/ndpi__rtp.pcapng"]
VECTORS = [
    "vectors/janus__rtp_0_audio-with-ext.rtp",
    "vectors/janus__rtp_1_video-with-ext.rtp",
    "vectors/mediasoup__packet1.raw",
    "vectors/mediasoup__packet3.raw",
    "vectors/aiortc__rtp_with_sdes_mid.bin",
]


def _udp_payloads(path: Path) -> list[bytes]:
    import dpkt

    out: list[bytes] = []
    with path.open("rb") as f:
        reader: Any = dpkt.pcapng.Reader(f) if path.suffix == ".pcapng" else dpkt.pcap.Reader(f)
        for _ts, frame in reader:
            try:
                eth = dpkt.ethernet.Ethernet(frame)
            except (dpkt.dpkt.UnpackError, dpkt.dpkt.NeedData):
                continue
            ip = eth.data
            udp = getattr(ip, "data", None)
            if isinstance(udp, dpkt.udp.UDP):
                out.append(bytes(udp.data))
    return out


def load_packets() -> tuple[list[bytes], str]:
    """Real RTP packets with a header extension, or generated ones; and where they came from."""
    pkts: list[bytes] = []
    sources = []
    for rel in CAPTURES:
        p = CORPUS / rel
        if not p.exists():
            continue
        n0 = len(pkts)
        for d in _udp_payloads(p):
            if classify(d) is PacketKind.RTP and d[0] & 0x10:
                try:
                    RtpPacket.parse(d)
                except ParseError:
                    continue
                pkts.append(d)
        sources.append(f"{Path(rel).name}: {len(pkts) - n0}")
    for rel in VECTORS:
        p = CORPUS / rel
        if p.exists():
            pkts.append(p.read_bytes())
            sources.append(Path(rel).name)
    if pkts:
        return pkts, "corpus (" + ", ".join(sources) + ")"
    rng = random.Random(1)
    for i in range(200):
        ext = HeaderExtension.build(
            [(1, bytes([rng.randrange(256)])), (3, rng.randbytes(3)), (5, rng.randbytes(2))]
        )
        pkts.append(
            bytes(
                RtpPacket(
                    marker=i % 30 == 0, payload_type=111, sequence_number=i, timestamp=960 * i,
                    ssrc=0x1234, extension=ext, payload=rng.randbytes(rng.randrange(60, 1000)),
                )
            )
        )
    return pkts, "generated (corpus not found)"


def measure_all(
    rows: list[tuple[str, list[Any], Callable[[Any], object]]], budget: float
) -> dict[str, float]:
    """Best packets/s per row; rows are timed in interleaved short passes.

    The machine is shared, so load changes during a run; interleaving gives every row the
    same chances, and the best pass of each is the least disturbed one.
    """
    per_pass: dict[str, int] = {}
    for name, items, fn in rows:  # size passes to ~10 ms each
        t0 = time.perf_counter()
        for d in items:
            fn(d)
        one = max(time.perf_counter() - t0, 1e-6)
        per_pass[name] = max(1, int(0.01 / one))
    best = dict.fromkeys(per_pass, 0.0)
    deadline = time.perf_counter() + budget * len(rows)
    while time.perf_counter() < deadline:
        for name, items, fn in rows:
            reps = per_pass[name]
            t0 = time.perf_counter()
            for _ in range(reps):
                for d in items:
                    fn(d)
            dt = time.perf_counter() - t0
            best[name] = max(best[name], reps * len(items) / dt)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="time budget per measurement")
    args = ap.parse_args(argv)

    import aiortc.rtp
    import dpkt

    pkts, origin = load_packets()
    # keep only packets that every parser accepts, so all run over the same input
    usable = []
    for d in pkts:
        try:
            aiortc.rtp.RtpPacket.parse(d)
            dpkt.rtp.RTP(d)
        except Exception:  # a baseline parser refusing a packet: leave it out for all
            continue
        usable.append(d)
    pkts = usable
    n_ext = sum(1 for d in pkts if d[0] & 0x10)
    n_elem = sum(len(fastpath.extension_elements(d)) for d in pkts)
    print(f"packets: {len(pkts)} from {origin}")
    print(f"  {n_ext} with a header extension, {n_elem} RFC 8285 elements in total, "
          f"mean size {sum(map(len, pkts)) / len(pkts):.0f} octets")
    print(f"python {sys.version.split()[0]}; budget {args.seconds:.1f} s per row; "
          "best of interleaved ~10 ms passes\n")

    backends = {name: fastpath.load_backend(name) for name in fastpath.available_backends()}
    if "c" not in backends:
        print("C fast path not built (python setup.py build_ext --inplace): Python rows only\n")
    print(f"fast-path backend selected for the typed parser: {fastpath.backend}\n")

    aio_parse = aiortc.rtp.RtpPacket.parse
    parse_rows: list[tuple[str, Callable[[bytes], object]]] = [
        ("aiortc RtpPacket.parse (baseline)", aio_parse),
        ("dpkt rtp.RTP (fixed header+CSRC only)", dpkt.rtp.RTP),
        ("rtpstack RtpPacket.parse (typed)", RtpPacket.parse),
    ]
    for name, mod in sorted(backends.items()):
        parse_rows.append((f"rtpstack fastpath.read_packet [{name}]", mod.read_packet))
        parse_rows.append((f"rtpstack fastpath.parse_header [{name}]", mod.parse_header))
    results = measure_all([(name, pkts, fn) for name, fn in parse_rows], args.seconds)
    base = results[parse_rows[0][0]]
    print(f"{'parse':44} {'packets/s':>12} {'us/packet':>10} {'vs aiortc':>10}")
    for name, _ in parse_rows:
        pps = results[name]
        print(f"{name:44} {pps:12,.0f} {1e6 / pps:10.2f} {pps / base:9.2f}x")

    ours = [RtpPacket.parse(d) for d in pkts]
    theirs = [aio_parse(d) for d in pkts]
    dp = [dpkt.rtp.RTP(d) for d in pkts]
    assert all(bytes(p) == d for p, d in zip(ours, pkts, strict=True))
    ser_rows: list[tuple[str, list[Any], Callable[[Any], object]]] = [
        ("aiortc RtpPacket.serialize (baseline)", theirs, lambda p: p.serialize()),
        ("dpkt bytes(RTP)", dp, bytes),
        ("rtpstack bytes(RtpPacket)", ours, bytes),
    ]
    ser = measure_all(ser_rows, args.seconds)
    sbase = ser[ser_rows[0][0]]
    print(f"\n{'serialize':44} {'packets/s':>12} {'us/packet':>10} {'vs aiortc':>10}")
    for name, _, _ in ser_rows:
        pps = ser[name]
        print(f"{name:44} {pps:12,.0f} {1e6 / pps:10.2f} {pps / sbase:9.2f}x")

    typed = results[parse_rows[2][0]] / base
    print(f"\ntargets: typed >= 2x aiortc: {typed:.2f}x {'met' if typed >= 2 else 'NOT met'}")
    for name in sorted(backends):
        fast = results[f"rtpstack fastpath.read_packet [{name}]"] / base
        print(f"         fast path [{name}] >= 5x aiortc: {fast:.2f}x "
              f"{'met' if fast >= 5 else 'NOT met'}")
    if "c" in backends and "python" in backends:
        c_py = (results["rtpstack fastpath.read_packet [c]"]
                / results["rtpstack fastpath.read_packet [python]"])
        print(f"read_packet C vs Python: {c_py:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
