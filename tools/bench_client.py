"""Benchmark: the client core's per-packet cost against bare SRTP on the same packets.

One process, one run. For audio frames (100 B) and video frames (300 kbit/s: ~1 kB deltas and
~4 kB key frames split into <=1,200 B packets), it measures publisher ``send_frame`` (SFrame
encrypt, packetize, RTP, SRTP protect) plus subscriber ``receive`` (SRTP unprotect, parse,
reassemble, SFrame decrypt, statistics), with and without end-to-end encryption, and prints
packets/s and the ratio to a baseline measured in the same run: ``SrtpSession.protect`` +
``unprotect`` of the very same RTP packets (the cost the client cannot avoid).

    python tools/bench_client.py [--seconds-per-case S]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from rtpstack.client.core import ClientCore, TrackConfig, TransportInfo
from rtpstack.client.sources import AudioSource, SyntheticFrame, VideoSource
from rtpstack.srtp import SrtpKeyingMaterial, SrtpProfile, SrtpSession

PROFILE = SrtpProfile.AEAD_AES_128_GCM


def _pair(e2ee: bool) -> tuple[ClientCore, ClientCore]:
    """A publisher and a subscriber wired back to back (the subscriber's router key is the
    publisher's client key, so no relay is needed)."""
    k_pub, k_sub = os.urandom(28), os.urandom(28)
    pub = ClientCore(TransportInfo("127.0.0.1", 9, PROFILE.value, k_pub, k_sub, 1),
                     session_id="bench", participant_id="pub", e2ee=e2ee, seed=1)
    sub = ClientCore(TransportInfo("127.0.0.1", 9, PROFILE.value, k_sub, k_pub, 2),
                     session_id="bench", participant_id="sub", e2ee=e2ee, seed=2)
    if e2ee:
        pub.set_encryption_secret("benchmark secret")
        sub.set_encryption_secret("benchmark secret")
    return pub, sub


def _timed(fn: Callable[[], int], seconds: float) -> tuple[float, int]:
    """Run ``fn`` (returns packets handled) repeatedly for ~``seconds``; (elapsed, packets)."""
    packets = 0
    start = time.perf_counter()
    deadline = start + seconds
    for _ in range(1_000_000):
        packets += fn()
        if time.perf_counter() >= deadline:
            break
    return time.perf_counter() - start, packets


def bench_client(kind: str, frames: list[SyntheticFrame], e2ee: bool,
                 seconds: float) -> tuple[float, list[bytes]]:
    """(packets/s through send + receive, the SRTP datagrams of one pass)."""
    pub, sub = _pair(e2ee)
    ssrc = 0x1000 if kind == "video" else 0x2000
    pt, rate = (96, 90_000) if kind == "video" else (111, 48_000)
    pub.add_track(TrackConfig(kind, kind, ssrc, pt, rate))  # type: ignore[arg-type]
    sub.add_subscription(ssrc, publisher="pub", kind=kind, clock_rate=rate)
    state = {"ts": 0}

    def one_pass() -> int:
        n = 0
        for f in frames:
            out = pub.send_frame(kind, f.data, timestamp=state["ts"] + f.timestamp,
                                 keyframe=f.keyframe, audio_level=(f.voice, f.audio_level))
            for d in out:
                sub.receive(d, 0.0)
            n += len(out)
        state["ts"] += 10_000_000
        sub.pop_frames()
        return n

    elapsed, packets = _timed(one_pass, seconds)
    decoded = sub.receive_stats()[ssrc].frames_decoded
    assert decoded > 0, "the subscriber decoded nothing"
    # the datagrams of one pass, for the baseline's packet sizes
    plain: list[bytes] = []
    pub2, _ = _pair(e2ee)
    pub2.add_track(TrackConfig(kind, kind, ssrc, pt, rate))  # type: ignore[arg-type]
    for f in frames:
        plain.extend(pub2.send_frame(kind, f.data, timestamp=f.timestamp, keyframe=f.keyframe,
                                     audio_level=(f.voice, f.audio_level)))
    return packets / elapsed, plain


def bench_srtp(packets: list[bytes], seconds: float) -> float:
    """Packets/s of protect + unprotect alone over packets of the same sizes."""
    keys = SrtpKeyingMaterial(PROFILE, os.urandom(16), os.urandom(12))
    tx, rx = SrtpSession(keys), SrtpSession(keys, replay_window=1024)
    sizes = [len(p) - 16 for p in packets]  # what the RTP packet was before the GCM tag
    seq = [0]

    def one_pass() -> int:
        for size in sizes:
            s = seq[0] = (seq[0] + 1) % 65536
            rtp = bytes([0x80, 96, s >> 8, s & 0xFF]) + bytes(8) + bytes(max(0, size - 12))
            rx.unprotect(tx.protect(rtp))
        return len(sizes)

    elapsed, n = _timed(one_pass, seconds)
    return n / elapsed


def main() -> int:
    """Run every case and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds-per-case", type=float, default=1.5)
    args = ap.parse_args()
    s = args.seconds_per_case
    audio = [AudioSource().frame(i) for i in range(50)]
    video = [VideoSource(bitrate=300_000).frame(i) for i in range(60)]
    rows = []
    for kind, frames in (("audio 100 B", audio), ("video 300 kbit/s", video)):
        base_pkts: list[bytes] = []
        results = []
        for e2ee in (True, False):
            rate, pkts = bench_client(kind.split()[0], frames, e2ee, s)
            base_pkts = base_pkts or pkts
            results.append((e2ee, rate))
        base = bench_srtp(base_pkts, s)
        mean = sum(len(p) for p in base_pkts) / len(base_pkts)
        rows.append((kind, "SRTP protect+unprotect only (baseline)", base, 1.0, mean))
        for e2ee, rate in results:
            label = "client send+receive, " + ("SFrame e2ee" if e2ee else "no e2ee")
            rows.append((kind, label, rate, rate / base, mean))
    print(f"{'media':<18}{'case':<42}{'packets/s':>12}{'us/packet':>11}{'vs base':>9}"
          f"{'mean B':>8}")
    for kind, label, rate, ratio, mean in rows:
        print(f"{kind:<18}{label:<42}{rate:>12,.0f}{1e6 / rate:>11.1f}{ratio:>9.2f}"
              f"{mean:>8.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
