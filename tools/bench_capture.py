"""Benchmark the capture layer in one process and one run; prints a table with ratios.

Baseline: dpkt's pcap reader iterating the same in-memory classic pcap (what a Python user
would reach for). Measured: our pcap and pcapng readers, the full analyzer (link + IP + UDP
+ RTP heuristics + per-stream statistics), and the replay planner. Numbers on a shared 2-core
VM are noisy: compare ratios within one run only.
"""

from __future__ import annotations

import io
import struct
import time
from collections.abc import Callable

import dpkt

from rtpstack.capture.analysis import CaptureAnalyzer
from rtpstack.capture.ip import udp_ip_packet
from rtpstack.capture.link import ethernet_frame
from rtpstack.capture.pcap import LINKTYPE_ETHERNET, PcapWriter
from rtpstack.capture.pcapng import PcapngWriter
from rtpstack.capture.reader import iter_stream
from rtpstack.capture.replay import ReplayOptions, ReplayPlan

N = 60_000  # packets: 3 streams of PCMU-sized RTP, 20 ms apart


def build() -> tuple[bytes, bytes]:
    frames = []
    for i in range(N):
        s = i % 3
        rtp = struct.pack("!BBHII", 0x80, 0, (i // 3) % 65536, 160 * (i // 3), 0x1000 + s)
        rtp += b"\xd5" * 160
        ip = udp_ip_packet("10.0.0.1", 40000 + 2 * s, "10.0.0.2", 50000, rtp, ident=i)
        frames.append((ethernet_frame(ip), 1_700_000_000 * 10**9 + (i // 3) * 20_000_000))
    a, b = io.BytesIO(), io.BytesIO()
    pw, nw = PcapWriter(a, LINKTYPE_ETHERNET), PcapngWriter(b, LINKTYPE_ETHERNET)
    for data, t in frames:
        pw.write(data, t)
        nw.write(data, t)
    return a.getvalue(), b.getvalue()


def timed(fn: Callable[[], int], repeat: int = 3) -> tuple[float, int]:
    best = float("inf")
    count = 0
    for _ in range(repeat):
        t = time.perf_counter()
        count = fn()
        best = min(best, time.perf_counter() - t)
    return best, count


def main() -> None:
    t = time.perf_counter()
    pcap, pcapng = build()
    print(f"built {N} packets ({len(pcap) / 1e6:.1f} MB pcap) in {time.perf_counter() - t:.1f} s")

    def dpkt_read() -> int:
        return sum(1 for _ in dpkt.pcap.Reader(io.BytesIO(pcap)))

    def ours_pcap() -> int:
        return sum(1 for _ in iter_stream(io.BytesIO(pcap)))

    def ours_pcapng() -> int:
        return sum(1 for _ in iter_stream(io.BytesIO(pcapng)))

    def analyze() -> int:
        a = CaptureAnalyzer()
        for p in iter_stream(io.BytesIO(pcap)):
            a.feed(p)
        r = a.result()
        assert len(r.streams) == 3 and r.streams[0].packets == N // 3
        return N

    def plan() -> int:
        a = CaptureAnalyzer()
        media = [m for p in iter_stream(io.BytesIO(pcap)) for m in a.feed(p)]
        return sum(1 for _ in ReplayPlan(media, ReplayOptions(speed=0)))

    rows = [("dpkt pcap reader (baseline)", dpkt_read), ("rtpstack pcap reader", ours_pcap),
            ("rtpstack pcapng reader", ours_pcapng), ("rtpstack analyze (full)", analyze),
            ("rtpstack analyze + replay plan", plan)]
    results = []
    for name, fn in rows:
        secs, count = timed(fn, repeat=3 if "analyze" not in name else 1)
        assert count == N, (name, count)
        results.append((name, secs))
    base = results[0][1]
    print(f"{'what':34} {'packets/s':>12} {'us/packet':>10} {'time vs baseline':>17}")
    for name, secs in results:
        print(f"{name:34} {N / secs:12,.0f} {secs / N * 1e6:10.2f} {secs / base:16.2f}x")


if __name__ == "__main__":
    main()
